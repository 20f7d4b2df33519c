/**
 * Connections to the Redis that holds jobs in distributed mode: the store URL checked and redacted, and ioredis
 * clients configured for their role. A password never leaves this file in a message: errors and logs carry
 * {@link redactRedisUrl}'s form.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ValidationError } from '../../core/validation.js';

/** A checked `redis://` or `rediss://` URL, and the form of it that is safe to print. */
export interface RedisAddress {
  /** The URL as given, password included: only for connecting. */
  readonly url: string;
  /** The URL with any password replaced by `***`. */
  readonly redacted: string;
  /** Whether the connection uses TLS (`rediss://`). */
  readonly tls: boolean;
}

/** Whether `value` names a Redis store (`redis://…` or `rediss://…`) rather than the embedded SQLite one. */
export function isRedisStoreUrl(value: string): boolean {
  return /^rediss?:\/\//i.test(value);
}

/** The URL with its password (and a lone user-info secret) replaced by `***`; unparsable input is fully masked. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    else if (parsed.username && !parsed.password && url.includes('@')) parsed.username = '***';
    return parsed.toString();
  } catch {
    return '<unparsable redis url>';
  }
}

/**
 * Checks a store URL: `redis://[user[:password]@]host[:port][/db]` or `rediss://…`. Throws a ValidationError naming
 * `field` (e.g. `store`, `--store`, `UNDERSTUDY_STORE`) and what is allowed, never echoing a password.
 */
export function parseRedisUrl(url: string, field = 'store'): RedisAddress {
  const problem = (what: string): ValidationError =>
    new ValidationError('store address', [{ field, problem: `${what}; expected redis://[user[:password]@]host[:port][/db] or rediss://…`, received: redactRedisUrl(url) }]);
  if (!isRedisStoreUrl(url)) throw problem('not a redis:// or rediss:// URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw problem('not a URL');
  }
  if (!parsed.hostname) throw problem('no host');
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) throw problem(`database "${db}" is not a number from 0 to 99`);
  return { url, redacted: redactRedisUrl(url), tls: parsed.protocol.toLowerCase() === 'rediss:' };
}

/**
 * What a connection is for. A `worker` (and anything BullMQ blocks on) waits through outages, as BullMQ requires
 * (`maxRetriesPerRequest: null`); a `gateway` fails fast while Redis is down, so that the API answers 503 instead of
 * holding requests or acknowledging what it cannot store.
 */
export type RedisRole = 'worker' | 'gateway';

/** Options of {@link connectRedis}. */
export interface ConnectRedisOptions {
  role: RedisRole;
  /** CLIENT SETNAME, to tell processes apart in `CLIENT LIST` (default `understudy`). */
  name?: string;
  /** Connect on first command instead of at once (default false). */
  lazyConnect?: boolean;
}

/** The ioredis options for a role; exported for BullMQ, which takes options or a client. */
export function redisOptionsFor(options: ConnectRedisOptions): RedisOptions {
  const common: RedisOptions = {
    connectionName: options.name ?? 'understudy',
    lazyConnect: options.lazyConnect ?? false,
    // Reconnect forever, backing off to 2 s: a Redis restart must not need a process restart.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  };
  return options.role === 'worker'
    ? { ...common, maxRetriesPerRequest: null, enableReadyCheck: true }
    : { ...common, maxRetriesPerRequest: 1, enableOfflineQueue: false };
}

/** A new ioredis client for `address` in `role`. The caller quits it. */
export function connectRedis(address: RedisAddress, options: ConnectRedisOptions): Redis {
  return new Redis(address.url, redisOptionsFor(options));
}
