/**
 * Real Redis for the cluster tests: the machine's Redis on 127.0.0.1:6379 (UNDERSTUDY_TEST_REDIS overrides), a unique
 * key prefix per test, and every key under it deleted afterwards. Without Redis the tests fail, saying so.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { connectRedis, parseRedisUrl, type RedisRole } from '../../src/adapters/redis/redis-connection.js';

export const TEST_REDIS_URL = process.env.UNDERSTUDY_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** A connected client in `role`; throws, naming the address, when Redis is not there. */
export async function openRedis(role: RedisRole = 'gateway'): Promise<Redis> {
  const redis = connectRedis(parseRedisUrl(TEST_REDIS_URL), { role, name: 'understudy-test', lazyConnect: true });
  redis.on('error', () => undefined); // connection errors surface as the rejections below
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(`the cluster tests need Redis at ${TEST_REDIS_URL} (start redis-server): ${(error as Error).message}`, { cause: error });
  }
  return redis;
}

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `ustest-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix` (SCAN is fine in a test). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Collects values as they arrive; `next(n)` resolves once `n` have (events, not timers, move it). */
export class Arrivals<T> {
  readonly values: T[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  push = (value: T): void => {
    this.values.push(value);
    this.waiters = this.waiters.filter((w) => (this.values.length >= w.n ? (w.resolve(), false) : true));
  };

  /** Resolves once at least `n` values have arrived. */
  atLeast(n: number): Promise<void> {
    if (this.values.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}
