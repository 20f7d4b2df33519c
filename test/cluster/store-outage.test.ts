/**
 * A store that cannot be reached for a while (Redis restarting) must not stop the process: the scheduler's
 * housekeeping tick and its passes fail, then the next tick tries again. Found by the Redis-restart crash test, where
 * the gateway died of an unhandled rejection from its tick.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreUnavailableError } from '../../src/runtime/job-store.js';
import { startWorkerEngine } from './worker-engine.js';

test('a housekeeping tick during a store outage is retried on the next tick, and the process keeps running', async (t) => {
  const worker = await startWorkerEngine();
  t.after(() => worker.close());
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));

  const expireDue = worker.store.expireDue.bind(worker.store);
  let calls = 0;
  let outage = true;
  worker.store.expireDue = async (...args) => {
    calls += 1;
    if (outage) throw new StoreUnavailableError('redis://127.0.0.1:6379', new Error('connect ECONNREFUSED'));
    return expireDue(...args);
  };
  const tick = 1000;
  await worker.clock.advance(tick);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(calls >= 1, 'the tick ran during the outage');
  outage = false;
  const before = calls;
  await worker.clock.advance(tick);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(calls > before, 'the next tick ran again after the failed one');
  assert.deepEqual(unhandled, []);
});
