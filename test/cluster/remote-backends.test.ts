import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisWorkerDirectory } from '../../src/adapters/redis/redis-worker-directory.js';
import { createCatalog } from '../../src/core/catalog.js';
import { BackendAvailability } from '../../src/runtime/backend-availability.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { isRemoteBackendError, RemoteBackends, type WorkersChange } from '../../src/runtime/cluster/remote-backend.js';
import { DEFAULT_HEARTBEAT_TTL_MS } from '../../src/runtime/cluster/worker-directory.js';
import { deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';
import { heartbeat } from './worker-heartbeats.js';

const GIB = 1024 ** 3;
const knownModels = createCatalog().models.map((m) => m.id);

describe('RemoteBackends', { timeout: 20_000 }, () => {
  let prefix: string;
  let redis: Redis;
  let directory: RedisWorkerDirectory;
  let clock: ManualClock;
  let remote: RemoteBackends;

  beforeEach(async () => {
    prefix = uniquePrefix();
    redis = await openRedis('gateway');
    directory = new RedisWorkerDirectory({ connection: redis, prefix });
    clock = new ManualClock();
    remote = new RemoteBackends({ directory, clock, knownModels });
    await directory.announce(heartbeat('worker-a', { installed: ['ti2v-5B'], loaded: ['ti2v-5B'], busy: 1, vramFreeGb: 18 }), DEFAULT_HEARTBEAT_TTL_MS);
    await directory.announce(
      heartbeat('worker-b', { slots: 2, vramTotalGb: 48, vramFreeGb: 48, installed: [], downloading: [{ modelId: 't2v-A14B', bytesDone: 2 * GIB, bytesTotal: 12 * GIB, etaSeconds: 100 }] }),
      DEFAULT_HEARTBEAT_TTL_MS,
    );
  });

  afterEach(async () => {
    remote.stop();
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  test("the planner's availability is the union of live workers: installed anywhere is available, downloading shows its progress, the rest is missing", async () => {
    await remote.start();
    assert.deepEqual(remote.backends.map((b) => b.id), ['worker-a/gpu-0', 'worker-b/gpu-0']);
    const snapshot = await remote.snapshot();
    assert.equal(snapshot.get('ti2v-5B')?.status, 'available');
    assert.deepEqual(snapshot.get('t2v-A14B'), { modelId: 't2v-A14B', status: 'downloading', bytesPresent: 2 * GIB, bytesTotal: 12 * GIB, downloadBytesPerSecond: (10 * GIB) / 100 });
    assert.equal(snapshot.get('i2v-A14B')?.status, 'missing');
  });

  test('each view reads as its backend: slots, VRAM, loaded and installed models, health; the union counts slots', async () => {
    await remote.start();
    const [a, b] = remote.backends;
    assert.equal(a?.slots, 1);
    assert.deepEqual(await a?.vram(), { totalGb: 24, usedGb: 6 });
    assert.deepEqual(await a?.loadedModels(), ['ti2v-5B']);
    assert.deepEqual((await b?.installedModels())?.find((s) => s.modelId === 'ti2v-5B')?.status, 'missing');
    assert.deepEqual(await a?.checkHealth(), { healthy: true });
    assert.deepEqual(remote.capacity(), { slots: 3, busy: 1 });
    assert.deepEqual(remote.workers.map((w) => w.workerId), ['worker-a', 'worker-b']);
  });

  test('nothing runs on a view: generation and recovery actions reject with a RemoteBackendError', async () => {
    await remote.start();
    const [a] = remote.backends;
    assert.ok(a);
    await assert.rejects(a.generate(), (e: unknown) => isRemoteBackendError(e) && e.operation === 'generate' && /read-only view of another worker's backend/.test(e.message));
    for (const call of [a.restartPipeline(), a.freeGpuMemory(), a.unloadModels(), a.ensureModelDownloaded(), a.applyVramOptimization(), a.setOffloadMode()]) {
      await assert.rejects(call, (e: unknown) => isRemoteBackendError(e) && e.backendId === 'worker-a/gpu-0');
    }
  });

  test('a worker that leaves the directory leaves the set at the next refresh on the clock; lists built over it follow', async () => {
    await remote.start();
    const list = remote.backends;
    const availability = new BackendAvailability(list); // as the gateway's planner would hold it
    const changed = new Promise<WorkersChange>((resolve) => remote.onChange(resolve));
    await directory.withdraw('worker-b');
    await clock.advance(2_000);
    assert.deepEqual(await changed, { joined: [], left: ['worker-b'] });
    assert.equal(remote.backends, list, 'the same array, updated in place');
    assert.deepEqual(list.map((b) => b.id), ['worker-a/gpu-0']);
    assert.equal((await availability.snapshot()).get('t2v-A14B')?.status, 'missing');
  });

  test('a view keeps its identity across refreshes and shows the newest heartbeat', async () => {
    await remote.start();
    const before = remote.backends[0];
    await directory.announce(heartbeat('worker-a', { installed: ['ti2v-5B', 'i2v-A14B'] }), DEFAULT_HEARTBEAT_TTL_MS);
    await remote.refresh();
    assert.equal(remote.backends[0], before);
    assert.equal((await remote.snapshot()).get('i2v-A14B')?.status, 'available');
  });

  test('a backend whose breaker is open reads unhealthy and its slots leave the capacity', async () => {
    await directory.announce(heartbeat('worker-a', { breakerOpen: true, busy: 0 }), DEFAULT_HEARTBEAT_TTL_MS);
    await remote.start();
    assert.deepEqual(await remote.backends[0]?.checkHealth(), { healthy: false, reason: "worker-a/gpu-0's circuit breaker is open" });
    assert.deepEqual(remote.capacity(), { slots: 2, busy: 0 });
  });
});
