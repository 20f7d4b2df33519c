import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisWorkerDirectory } from '../../src/adapters/redis/redis-worker-directory.js';
import { HeartbeatPublisher } from '../../src/runtime/cluster/heartbeat-publisher.js';
import { deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';
import { startWorkerEngine, type WorkerEngine } from './worker-engine.js';

describe('HeartbeatPublisher', { timeout: 30_000 }, () => {
  let prefix: string;
  let redis: Redis;
  let directory: RedisWorkerDirectory;
  let worker: WorkerEngine;
  let publisher: HeartbeatPublisher;

  beforeEach(async () => {
    prefix = uniquePrefix();
    redis = await openRedis('worker');
    directory = new RedisWorkerDirectory({ connection: redis, prefix });
    worker = await startWorkerEngine({ installed: ['ti2v-5B'], slots: 2, vramGb: 24 });
    publisher = new HeartbeatPublisher({
      workerId: 'worker-a',
      version: '9.9.9',
      clock: worker.clock,
      directory,
      backends: [worker.backend],
      availability: worker.availability,
      scheduler: worker.scheduler,
      downloads: worker.downloads,
      recovery: worker.recovery,
    });
  });

  afterEach(async () => {
    await publisher.stop();
    await worker.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  test("announces what the worker's backend holds and does: slots, busy, VRAM, installed, loaded, downloads, health, breaker", async () => {
    await worker.recovery.getSystemHealthStatus();
    worker.downloads.request('t2v-A14B');
    const { job } = await worker.engine.submit({ model: 'ti2v-5B', prompt: 'a red fox running through snow' });
    for (let i = 0; i < 40 && (await worker.engine.get(job.id))?.status !== 'running'; i++) await worker.clock.advance(50);
    await publisher.start();

    const [announced] = await directory.live();
    assert.ok(announced, 'the worker is in the directory after the first beat');
    assert.equal(announced.workerId, 'worker-a');
    assert.equal(announced.version, '9.9.9');
    assert.equal(announced.sentAt, worker.clock.now());
    assert.equal(announced.lastClaimAt, worker.scheduler.lastClaimAt);
    assert.ok(announced.lastClaimAt !== null, 'it has claimed the job');
    assert.equal(announced.diskFreeBytes, 500 * 1024 ** 3);
    const [gpu] = announced.backends;
    const vram = await worker.backend.vram();
    assert.deepEqual(
      { ...gpu, downloading: gpu?.downloading.map((d) => d.modelId) },
      {
        backendId: 'gpu-0',
        slots: 2,
        busy: 1,
        vramTotalGb: 24,
        vramFreeGb: 24 - (vram?.usedGb ?? 0),
        installed: ['ti2v-5B'],
        loaded: await worker.backend.loadedModels(),
        downloading: ['t2v-A14B'],
        health: 'healthy',
        breakerOpen: false,
      },
    );
    assert.ok(gpu?.loaded.includes('ti2v-5B'), 'the running job loaded its model');
    const download = gpu?.downloading[0];
    assert.ok(download && download.bytesDone > 0 && download.bytesTotal === 12 * 1024 ** 3, 'download progress in bytes');
  });

  test('beats again every interval on the engine clock, and stop() takes the worker out at once', async () => {
    await publisher.start();
    const first = (await directory.live())[0]?.sentAt;
    await worker.clock.advance(4_999);
    assert.equal((await directory.live())[0]?.sentAt, first, 'no beat before the interval');
    await worker.clock.advance(1);
    await worker.clock.flush();
    assert.equal((await directory.live())[0]?.sentAt, (first ?? 0) + 5_000);
    assert.ok((await redis.pttl(`${prefix}:worker:worker-a`)) <= 15_000);
    await publisher.stop();
    assert.deepEqual(await directory.live(), []);
  });

  test('a backend whose breaker opened is announced out of rotation', async () => {
    for (let i = 0; i < 10; i++) {
      await worker.recovery.handleFailure('generation_pipeline_error', new Error('pipeline process exited with code 137'), { backendId: 'gpu-0' });
      if (!worker.recovery.isAvailable('gpu-0')) break;
      await worker.clock.advance(31_000); // past the cooldown, so each failure runs its chain and counts
    }
    assert.equal(worker.recovery.isAvailable('gpu-0'), false);
    await publisher.start();
    assert.equal((await directory.live())[0]?.backends[0]?.breakerOpen, true);
  });

  test('an interval not shorter than the TTL is refused', () => {
    assert.throws(
      () => new HeartbeatPublisher({ workerId: 'w', version: '1', clock: worker.clock, directory, backends: [], availability: worker.availability, scheduler: worker.scheduler, downloads: worker.downloads, recovery: worker.recovery, intervalMs: 15_000 }),
      /heartbeat intervalMs \(15000\) must be above 0 and below ttlMs \(15000\)/,
    );
  });
});
