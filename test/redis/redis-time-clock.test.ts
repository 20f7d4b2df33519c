import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { readRedisTime, RedisTimeClock } from '../../src/adapters/redis/redis-time-clock.js';
import { REDIS_URL, requireRedis } from './redis-fixtures.js';

await requireRedis();

/** A monotonic clock that moves only when told. */
function manualMonotonic(start = 1000): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return { now: () => current, advance: (ms) => (current += ms) };
}

test('RedisTimeClock: now() is the server time, offset at the midpoint of the round trip, whatever the local clock says', async () => {
  const mono = manualMonotonic();
  const server = Date.UTC(2030, 0, 1); // far from this machine's clock
  // The reply takes 10 ms to come back: the server read its clock halfway.
  const readTime = async (): Promise<number> => {
    mono.advance(5);
    const at = server + mono.now();
    mono.advance(5);
    return at;
  };
  const clock = await RedisTimeClock.start(readTime, { monotonic: mono.now });
  try {
    assert.equal(clock.now(), server + mono.now());
    mono.advance(2500);
    assert.equal(clock.now(), server + mono.now());
  } finally {
    clock.stop();
  }
});

test('RedisTimeClock: a new calibration never takes time back', async () => {
  const mono = manualMonotonic();
  let server = Date.UTC(2030, 0, 1);
  const clock = await RedisTimeClock.start(async () => server + mono.now(), { monotonic: mono.now });
  try {
    mono.advance(1000);
    const before = clock.now();
    server -= 400; // the server's clock stepped back (NTP)
    await clock.calibrate();
    assert.equal(clock.now(), before, 'held until the new time catches up');
    mono.advance(1000);
    assert.equal(clock.now(), server + mono.now());
  } finally {
    clock.stop();
  }
});

test('RedisTimeClock: on a real Redis, now() lies between two TIME readings taken around it', async () => {
  const redis = new Redis(REDIS_URL);
  const clock = await RedisTimeClock.start(redis);
  try {
    const before = await readRedisTime(redis);
    const now = clock.now();
    const after = await readRedisTime(redis);
    // One millisecond either way: now() is floored, and the offset is exact to half a round trip on loopback.
    assert.ok(now >= Math.floor(before) - 1 && now <= Math.ceil(after) + 1, `${before} <= ${now} <= ${after}`);
  } finally {
    clock.stop();
    redis.disconnect();
  }
});
