/**
 * The check a process runs before it trusts a Redis with jobs: acknowledged jobs survive a crash only with the AOF on
 * and `appendfsync always`, and only `noeviction` keeps Redis from dropping keys (BullMQ's locks, our records) under
 * memory pressure.
 */
import type { Redis } from 'ioredis';

/** What the server's configuration says about durability. */
export interface RedisDurability {
  appendonly: string;
  appendfsync: string;
  maxmemoryPolicy: string;
  /** Empty when the server is safe for jobs. */
  problems: string[];
  /** The commands that fix each problem on a running server (persist them in redis.conf too). */
  fixes: string[];
}

/** Thrown at startup when Redis would lose acknowledged jobs and `--allow-volatile-redis` was not given. */
export class RedisNotDurableError extends Error {
  override readonly name = 'RedisNotDurableError';

  constructor(
    readonly durability: RedisDurability,
    where: string,
  ) {
    super(
      `Redis at ${where} can lose accepted jobs: ${durability.problems.join('; ')}. Fix it with: ${durability.fixes.join(' && ')} ` +
        '(and the same settings in redis.conf), or pass --allow-volatile-redis for a demo whose jobs may be lost',
    );
  }
}

/** Type guard for {@link RedisNotDurableError}. */
export function isRedisNotDurableError(error: unknown): error is RedisNotDurableError {
  return error instanceof RedisNotDurableError;
}

/** Reads `appendonly`, `appendfsync` and `maxmemory-policy` and says what is unsafe. */
export async function readRedisDurability(redis: Redis): Promise<RedisDurability> {
  const value = async (key: string): Promise<string> => {
    const reply = (await redis.config('GET', key)) as string[];
    return reply[1] ?? '';
  };
  const [appendonly, appendfsync, maxmemoryPolicy] = await Promise.all([value('appendonly'), value('appendfsync'), value('maxmemory-policy')]);
  const problems: string[] = [];
  const fixes: string[] = [];
  if (appendonly !== 'yes') {
    problems.push(`appendonly is "${appendonly}" (jobs vanish on a restart)`);
    fixes.push('redis-cli CONFIG SET appendonly yes');
  }
  if (appendfsync !== 'always') {
    problems.push(`appendfsync is "${appendfsync}" (the last second of accepted jobs is lost in a crash)`);
    fixes.push('redis-cli CONFIG SET appendfsync always');
  }
  if (maxmemoryPolicy !== 'noeviction') {
    problems.push(`maxmemory-policy is "${maxmemoryPolicy}" (Redis may evict jobs and locks)`);
    fixes.push('redis-cli CONFIG SET maxmemory-policy noeviction');
  }
  return { appendonly, appendfsync, maxmemoryPolicy, problems, fixes };
}
