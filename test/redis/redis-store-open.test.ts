import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isRedisNotDurableError,
  isRedisUnavailableError,
  RedisJobStore,
  type RedisJobStoreOpenOptions,
} from '../../src/adapters/redis/index.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { newJob } from '../jobs/job-fixtures.js';
import { MemoryLogger, startRedisServer } from './redis-fixtures.js';

const DURABLE = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'];
const PASSWORD = 's3cret-Pa55-word';

function openOn(url: string, more: Partial<RedisJobStoreOpenOptions> = {}): Promise<RedisJobStore> {
  return RedisJobStore.open({ address: url, clock: new ManualClock(), stalledIntervalMs: 0, logger: new MemoryLogger(), ...more });
}

test('RedisJobStore.open: a durable Redis (AOF, fsync always, noeviction) is accepted and says so', async (t) => {
  const redis = await startRedisServer(t, DURABLE);
  const store = await openOn(redis.url);
  t.after(() => store.close());
  assert.deepEqual(store.durability?.problems, []);
  assert.equal(store.volatile, false);
  const job = await store.enqueue(newJob({ id: 'job' }));
  assert.equal((await store.get('job'))?.sequence, job.sequence);
});

for (const [what, args, problem, fix] of [
  ['appendonly no', ['--appendonly', 'no', '--maxmemory-policy', 'noeviction'], /appendonly is "no"/, /redis-cli CONFIG SET appendonly yes/],
  ['appendfsync everysec', ['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'], /appendfsync is "everysec"/, /CONFIG SET appendfsync always/],
  ['an evicting policy', ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'allkeys-lru'], /maxmemory-policy is "allkeys-lru"/, /CONFIG SET maxmemory-policy noeviction/],
] as const) {
  test(`RedisJobStore.open refuses a Redis with ${what}, naming the fix; allowVolatile opens it and says so loudly`, async (t) => {
    const redis = await startRedisServer(t, args);
    await assert.rejects(openOn(redis.url), (error) => {
      assert.ok(isRedisNotDurableError(error));
      assert.match(error.message, problem);
      assert.match(error.message, fix);
      assert.match(error.message, /--allow-volatile-redis/);
      return true;
    });
    const logger = new MemoryLogger();
    const store = await openOn(redis.url, { allowVolatile: true, logger });
    t.after(() => store.close());
    assert.equal(store.volatile, true);
    assert.match(store.durability?.problems.join('; ') ?? '', problem);
    assert.equal(logger.lines.filter((l) => /^warn: VOLATILE REDIS at redis:\/\/127\.0\.0\.1:\d+/.test(l)).length, 1, logger.lines.join('\n'));
  });
}

test('RedisJobStore.open: the password appears in no error and no log line, refused, unreachable or volatile', async (t) => {
  const redis = await startRedisServer(t, ['--requirepass', PASSWORD, '--appendonly', 'no']);
  const withPassword = (password: string, port = redis.port): string => `redis://:${password}@127.0.0.1:${port}`;
  const logger = new MemoryLogger();
  const messages: string[] = [];

  await assert.rejects(openOn(withPassword('Wr0ng-Pa55-word'), { logger }), (error) => {
    assert.ok(isRedisUnavailableError(error), String(error));
    messages.push(error.message);
    return true;
  });
  await assert.rejects(openOn(withPassword(PASSWORD, 1), { logger }), (error) => {
    assert.ok(isRedisUnavailableError(error), String(error));
    messages.push(error.message);
    return true;
  });
  await assert.rejects(openOn(withPassword(PASSWORD), { logger }), (error) => {
    assert.ok(isRedisNotDurableError(error), String(error));
    messages.push(error.message);
    return true;
  });
  const store = await openOn(withPassword(PASSWORD), { logger, allowVolatile: true });
  t.after(() => store.close());
  await store.enqueue(newJob({ id: 'job' }));

  const everything = [...messages, ...logger.lines].join('\n');
  assert.ok(messages.every((m) => m.includes('redis://:***@127.0.0.1:')), messages.join('\n'));
  assert.doesNotMatch(everything, /Wr0ng-Pa55-word|s3cret-Pa55-word/);
});
