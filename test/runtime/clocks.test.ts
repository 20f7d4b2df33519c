import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/core/clock.js';
import { ManualClock } from '../../src/runtime/clocks.js';

test('the manual clock fires timers in due order and only when advanced', async () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b@200'), 200);
  clock.setTimeout(() => fired.push('a@100'), 100);
  const cancelled = clock.setTimeout(() => fired.push('never'), 150);
  clock.clearTimeout(cancelled);
  await clock.advance(99);
  assert.deepEqual(fired, []);
  await clock.advance(101);
  assert.deepEqual(fired, ['a@100', 'b@200']);
  assert.equal(clock.now(), 200);
});

test('sleep resolves on the clock and chained sleeps run within one advance', async () => {
  const clock = new ManualClock(0);
  const log: number[] = [];
  const run = (async () => {
    await sleep(clock, 10);
    log.push(clock.now());
    await sleep(clock, 10);
    log.push(clock.now());
  })();
  await clock.advance(25);
  await run;
  assert.deepEqual(log, [10, 20]);
});

test('sleep rejects when aborted', async () => {
  const clock = new ManualClock(0);
  const controller = new AbortController();
  const pending = sleep(clock, 1000, controller.signal);
  controller.abort(new Error('stop'));
  await assert.rejects(pending, /stop/);
  assert.equal(clock.pendingTimers, 0);
});
