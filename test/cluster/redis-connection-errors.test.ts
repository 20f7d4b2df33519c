/** A Redis that is down reads as StoreUnavailableError (503 with Retry-After), never as an internal error. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectRedis, parseRedisUrl } from '../../src/adapters/redis/redis-connection.js';
import { isRedisConnectionError, mapUnavailable } from '../../src/adapters/redis/redis-connection-errors.js';
import { isStoreUnavailableError } from '../../src/runtime/job-store.js';
import { freePort } from '../support/processes.js';

test('a gateway client to a Redis that is not there fails fast with a StoreUnavailableError naming the redacted address', async () => {
  const address = parseRedisUrl(`redis://:s3cret-pass@127.0.0.1:${await freePort()}`);
  const redis = connectRedis(address, { role: 'gateway' });
  redis.on('error', () => undefined);
  try {
    const port = mapUnavailable({ read: () => redis.get('k') }, address.redacted);
    const error = await port.read().catch((e: unknown) => e);
    assert.ok(isStoreUnavailableError(error), String(error));
    assert.equal(error.retryAfterSeconds, 5);
    assert.match(error.message, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(error.message, /s3cret/);
  } finally {
    redis.disconnect();
  }
});

test('other failures pass through unchanged', async () => {
  const failure = new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
  const port = mapUnavailable({ read: () => Promise.reject(failure), size: 3 }, 'redis://x');
  assert.equal(await port.read().catch((e: unknown) => e), failure);
  assert.equal(port.size, 3);
  assert.equal(isRedisConnectionError(failure), false);
});
