import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisWorkerControl } from '../../src/adapters/redis/redis-worker-control.js';
import { Arrivals, deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';

/** A download handler that records each call and finishes when the test says so. */
function heldDownloads() {
  const started = new Arrivals<string>();
  const finish = new Map<string, () => void>();
  return {
    started,
    finish: (modelId: string) => finish.get(modelId)?.(),
    handlers: {
      download: (modelId: string) =>
        new Promise<void>((resolve) => {
          finish.set(modelId, resolve);
          started.push(modelId);
        }),
    },
  };
}

describe('RedisWorkerControl', { timeout: 20_000 }, () => {
  let prefix: string;
  let gatewayConn: Redis;
  let workerConn: Redis;
  let gateways: RedisWorkerControl[];
  let worker: RedisWorkerControl;

  beforeEach(async () => {
    prefix = uniquePrefix();
    gatewayConn = await openRedis('gateway');
    workerConn = await openRedis('worker');
    gateways = [new RedisWorkerControl({ connection: gatewayConn, prefix }), new RedisWorkerControl({ connection: gatewayConn, prefix })];
    worker = new RedisWorkerControl({ connection: workerConn, prefix });
  });

  afterEach(async () => {
    await Promise.all([...gateways, worker].map((c) => c.close()));
    await deleteKeys(gatewayConn, prefix);
    await Promise.all([gatewayConn.quit(), workerConn.quit()]);
  });

  test('one download per model per worker, however often and from however many gateways it is asked', async () => {
    const [one, two] = gateways as [RedisWorkerControl, RedisWorkerControl];
    await one.requestDownload('worker-b', 't2v-A14B');
    await two.requestDownload('worker-b', 't2v-A14B');
    await one.requestDownload('worker-b', 't2v-A14B');
    assert.equal(await one.downloadState('worker-b', 't2v-A14B'), 'pending');

    const downloads = heldDownloads();
    const server = worker.serve('worker-b', downloads.handlers);
    await downloads.started.atLeast(1);
    assert.equal(await two.downloadState('worker-b', 't2v-A14B'), 'running');
    await two.requestDownload('worker-b', 't2v-A14B'); // while it runs: still the same download

    await one.requestDownload('worker-b', 'i2v-A14B'); // another model is another download
    await downloads.started.atLeast(2);
    downloads.finish('t2v-A14B');
    downloads.finish('i2v-A14B');
    await server.close();
    assert.deepEqual(downloads.started.values.sort(), ['i2v-A14B', 't2v-A14B']);
    assert.equal(await one.downloadState('worker-b', 't2v-A14B'), 'none', 'a finished download leaves nothing behind');
  });

  test("a request reaches only the worker it names, and a finished download may be asked for again", async () => {
    const [gateway] = gateways as [RedisWorkerControl];
    const onA = heldDownloads();
    const onB = heldDownloads();
    const serverA = worker.serve('worker-a', onA.handlers);
    const serverB = worker.serve('worker-b', onB.handlers);
    await gateway.requestDownload('worker-b', 'ti2v-5B');
    await onB.started.atLeast(1);
    onB.finish('ti2v-5B');
    await gateway.requestDownload('worker-a', 'ti2v-5B');
    await onA.started.atLeast(1);
    onA.finish('ti2v-5B');
    // Again on B once the first has ended (it may still be completing: retry the request until it is taken).
    while ((await gateway.downloadState('worker-b', 'ti2v-5B')) !== 'none') await new Promise((r) => setImmediate(r));
    await gateway.requestDownload('worker-b', 'ti2v-5B');
    await onB.started.atLeast(2);
    onB.finish('ti2v-5B');
    await Promise.all([serverA.close(), serverB.close()]);
    assert.deepEqual(onA.started.values, ['ti2v-5B']);
    assert.deepEqual(onB.started.values, ['ti2v-5B', 'ti2v-5B']);
  });

  test('ids that would break the key layout are refused, naming what is allowed', async () => {
    const [gateway] = gateways as [RedisWorkerControl];
    await assert.rejects(gateway.requestDownload('host:1', 't2v-A14B'), /worker id "host:1" must be non-empty, without spaces or ':'/);
    await assert.rejects(gateway.requestDownload('host-1', 'a:b'), /model id "a:b" must be non-empty, without spaces or ':'/);
  });
});
