import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisWorkerDirectory } from '../../src/adapters/redis/redis-worker-directory.js';
import { DEFAULT_HEARTBEAT_TTL_MS } from '../../src/runtime/cluster/worker-directory.js';
import { deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';
import { heartbeat } from './worker-heartbeats.js';

describe('RedisWorkerDirectory', { timeout: 20_000 }, () => {
  let prefix: string;
  let redis: Redis;
  let directory: RedisWorkerDirectory;

  beforeEach(async () => {
    prefix = uniquePrefix();
    redis = await openRedis('gateway');
    directory = new RedisWorkerDirectory({ connection: redis, prefix });
  });

  afterEach(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  test('announced workers are live, with their heartbeats as sent; a refresh replaces the heartbeat', async () => {
    await directory.announce(heartbeat('worker-a'), DEFAULT_HEARTBEAT_TTL_MS);
    await directory.announce(heartbeat('worker-b', { slots: 2 }), DEFAULT_HEARTBEAT_TTL_MS);
    await directory.announce(heartbeat('worker-a', { busy: 1 }, { sentAt: 7_000 }), DEFAULT_HEARTBEAT_TTL_MS);
    const live = (await directory.live()).sort((a, b) => a.workerId.localeCompare(b.workerId));
    assert.deepEqual(live, [heartbeat('worker-a', { busy: 1 }, { sentAt: 7_000 }), heartbeat('worker-b', { slots: 2 })]);
  });

  test('the heartbeat key carries the TTL on the Redis side, and the ZSET scores expiry on Redis time', async () => {
    await directory.announce(heartbeat('worker-a'), 15_000);
    const ttl = await redis.pttl(`${prefix}:worker:worker-a`);
    assert.ok(ttl > 0 && ttl <= 15_000, `PTTL ${ttl}`);
    const [seconds, micros] = await redis.time();
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const score = Number(await redis.zscore(`${prefix}:workers`, 'worker-a'));
    assert.ok(score > redisNow && score <= redisNow + 15_000, `score ${score} within the TTL of Redis's now ${redisNow}`);
  });

  test('a worker whose heartbeat key expired is out of rotation, and the next announce prunes it from the index', async () => {
    await directory.announce(heartbeat('worker-a'), DEFAULT_HEARTBEAT_TTL_MS);
    await directory.announce(heartbeat('dead'), 1);
    // Wait on Redis's own expiry (a 1 ms TTL), not on a timer of ours.
    while ((await redis.exists(`${prefix}:worker:dead`)) === 1) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual((await directory.live()).map((h) => h.workerId), ['worker-a']);
    await directory.announce(heartbeat('worker-a'), DEFAULT_HEARTBEAT_TTL_MS);
    assert.deepEqual(await redis.zrange(`${prefix}:workers`, 0, -1), ['worker-a']);
  });

  test('withdraw takes a worker out at once; unknown ids are ignored', async () => {
    await directory.announce(heartbeat('worker-a'), DEFAULT_HEARTBEAT_TTL_MS);
    await directory.withdraw('worker-a');
    await directory.withdraw('never-seen');
    assert.deepEqual(await directory.live(), []);
    assert.equal(await redis.zcard(`${prefix}:workers`), 0);
  });

  test('an entry that does not read as a heartbeat is left out and reported, not handed to the planner', async () => {
    const invalid: string[] = [];
    const checked = new RedisWorkerDirectory({ connection: redis, prefix, onInvalid: (id) => invalid.push(id) });
    await checked.announce(heartbeat('worker-a'), DEFAULT_HEARTBEAT_TTL_MS);
    await redis.set(`${prefix}:worker:odd`, JSON.stringify({ workerId: 'odd', backends: 'none' }), 'PX', 15_000);
    await redis.zadd(`${prefix}:workers`, Date.now() + 15_000, 'odd');
    assert.deepEqual((await checked.live()).map((h) => h.workerId), ['worker-a']);
    assert.deepEqual(invalid, ['odd']);
  });

  test('a TTL that is not a whole number of milliseconds is refused', async () => {
    await assert.rejects(directory.announce(heartbeat('worker-a'), 0.5), /ttlMs must be a whole number of milliseconds ≥ 1, got 0.5/);
  });
});
