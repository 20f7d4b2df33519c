import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisCancelSignals } from '../../src/adapters/redis/redis-cancel-signals.js';
import { Arrivals, deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';
import { startWorkerEngine, type WorkerEngine } from './worker-engine.js';

describe('RedisCancelSignals', { timeout: 30_000 }, () => {
  let prefix: string;
  let gatewayConn: Redis;
  let workerConn: Redis;
  let gatewaySignals: RedisCancelSignals;
  let workerSignals: RedisCancelSignals;
  let worker: WorkerEngine;
  let stopFollowing: () => void;

  beforeEach(async () => {
    prefix = uniquePrefix();
    gatewayConn = await openRedis('gateway');
    workerConn = await openRedis('worker');
    gatewaySignals = await RedisCancelSignals.open({ connection: gatewayConn, prefix });
    workerSignals = await RedisCancelSignals.open({ connection: workerConn, prefix });
    // A reference ti2v-5B job takes 80 s of engine time: it is still running whenever the test cancels it.
    worker = await startWorkerEngine({ installed: ['ti2v-5B'], timeScale: 1 });
    stopFollowing = workerSignals.onCancel((jobId, reason) => worker.runner.abort(jobId, reason));
  });

  afterEach(async () => {
    stopFollowing();
    await worker.close();
    await Promise.all([gatewaySignals.close(), workerSignals.close()]);
    await deleteKeys(gatewayConn, prefix);
    await Promise.all([gatewayConn.quit(), workerConn.quit()]);
  });

  /** Submits a job and runs the clock until it is generating. */
  async function runningJob(): Promise<string> {
    const { job } = await worker.engine.submit({ model: 'ti2v-5B', prompt: 'a red fox running through snow' });
    for (let i = 0; i < 100 && !worker.events.some((e) => e.type === 'job.progress' && e.jobId === job.id); i++) await worker.clock.advance(500);
    assert.equal((await worker.engine.get(job.id))?.status, 'running');
    return job.id;
  }

  function cancelledEvent(jobId: string): Promise<void> {
    const got = new Arrivals<string>();
    worker.engine.onEvent((e) => {
      if (e.type === 'job.cancelled' && e.jobId === jobId) got.push(e.jobId);
    });
    return got.atLeast(1);
  }

  test('a signal from a gateway aborts the running generation at once: the job ends cancelled without the clock moving', async () => {
    const jobId = await runningJob();
    const cancelled = cancelledEvent(jobId);
    const at = worker.clock.now();
    await gatewaySignals.signal(jobId, 'cancelled by the user on gateway-2');
    await cancelled;
    const job = await worker.engine.get(jobId);
    assert.equal(job?.status, 'cancelled');
    assert.equal(worker.clock.now(), at, 'no lease renewal or progress write was needed to notice');
    assert.equal(worker.scheduler.busyOn('gpu-0'), 0, 'the slot is free again');
    assert.ok(job?.timeline.some((e) => e.message.includes('cancelled by the user on gateway-2')), 'the reason is on the timeline');
    await worker.clock.advance(120_000);
    assert.equal(worker.events.some((e) => e.type === 'job.succeeded' && e.jobId === jobId), false, 'the generation did not go on');
  });

  test('after the gateway cancelled the job in the store, the signal stops its generation', async () => {
    const jobId = await runningJob();
    const cancelled = cancelledEvent(jobId);
    await worker.store.cancel(jobId, 'cancelled by the user');
    await gatewaySignals.signal(jobId, 'cancelled by the user');
    await cancelled;
    assert.equal((await worker.engine.get(jobId))?.status, 'cancelled');
    assert.equal(worker.scheduler.busyOn('gpu-0'), 0);
  });

  test('every subscriber hears a signal; a worker not running the job ignores it', async () => {
    const heard = new Arrivals<[string, string]>();
    const stop = gatewaySignals.onCancel((jobId, reason) => heard.push([jobId, reason]));
    await workerSignals.signal('job-elsewhere', 'cancelled');
    await heard.atLeast(1);
    stop();
    assert.deepEqual(heard.values, [['job-elsewhere', 'cancelled']]);
    assert.equal(worker.runner.abort('job-elsewhere', 'cancelled'), false);
  });
});
