/**
 * Reaching Redis at startup: a process that cannot reach it, or is refused (a wrong password), fails at once with an
 * error naming the address in its redacted form, so that a misconfiguration shows up when the process starts and no
 * password reaches a log. Once open, clients reconnect forever (see redis-connection.ts).
 */
import type { Redis } from 'ioredis';
import type { RedisAddress } from './redis-connection.js';

/** Thrown when Redis cannot be reached or refuses the connection when a store opens. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';

  constructor(
    /** The address with any password masked. */
    readonly address: string,
    /** What the client reported, with the password masked should it appear. */
    readonly reason: string,
  ) {
    super(`cannot use Redis at ${address}: ${reason}`);
  }
}

/** Type guard for {@link RedisUnavailableError}. */
export function isRedisUnavailableError(error: unknown): error is RedisUnavailableError {
  return error instanceof RedisUnavailableError;
}

/** `text` with every occurrence of the address's password masked. */
export function maskPassword(text: string, address: RedisAddress): string {
  let password: string;
  try {
    password = decodeURIComponent(new URL(address.url).password);
  } catch {
    return text;
  }
  return password === '' ? text : text.split(password).join('***');
}

/** Resolves once `redis` is ready; rejects with a RedisUnavailableError at its first connection error. */
export function whenReady(redis: Redis, address: RedisAddress): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      redis.off('error', onError);
      resolve();
    };
    const onError = (error: Error): void => {
      redis.off('ready', onReady);
      reject(new RedisUnavailableError(address.redacted, maskPassword(error.message, address)));
    };
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
}
