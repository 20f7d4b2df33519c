/**
 * Redis being down, told apart from every other failure: ioredis's connection errors become the job-store port's
 * StoreUnavailableError, which the API answers with 503 and Retry-After, never with a 202 it cannot keep.
 */
import { StoreUnavailableError } from '../../runtime/job-store-errors.js';

/** Socket-level codes of a connection that failed or broke. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** What ioredis says when a command cannot reach the server (offline queue off, retries spent, connection closed). */
const CONNECTION_MESSAGES = [/Stream isn't writeable/, /^Connection is closed/, /Reached the max retries per request limit/, /Command timed out/];

/** Whether `error` says Redis could not be reached, rather than that a command failed on a live server. */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && CONNECTION_CODES.has(code)) return true;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return CONNECTION_MESSAGES.some((pattern) => pattern.test(error.message));
}

/** `error` as a StoreUnavailableError when it is a connection error, else unchanged. */
export function asStoreUnavailable(error: unknown, where: string): unknown {
  return isRedisConnectionError(error) ? new StoreUnavailableError(where, error) : error;
}

/**
 * `target` with every method's rejection passed through {@link asStoreUnavailable}: what a Redis-backed port (the job
 * store, the directory) throws while Redis is down is a StoreUnavailableError, whichever method met it.
 */
export function mapUnavailable<T extends object>(target: T, where: string): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(object, args);
        return result instanceof Promise ? result.catch((error: unknown) => Promise.reject(asStoreUnavailable(error, where))) : result;
      };
    },
  });
}
