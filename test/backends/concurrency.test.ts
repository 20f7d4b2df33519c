import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Semaphore, SerialLock } from '../../src/adapters/concurrency.js';
import { isAbortError } from '../../src/runtime/backend.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a semaphore lets `permits` holders in at once and the rest in arrival order', async () => {
  const permits = new Semaphore(2);
  const order: string[] = [];
  const take = (name: string): Promise<() => void> => permits.acquire().then((release) => (order.push(name), release));
  const a = await take('a');
  await take('b');
  const c = take('c');
  const d = take('d');
  await turn();
  assert.deepEqual(order, ['a', 'b'], 'c and d wait');
  assert.equal(permits.inUse, 2);
  a();
  a(); // a second call gives nothing more back
  await c;
  await turn();
  assert.deepEqual(order, ['a', 'b', 'c'], 'one permit freed, one waiter in');
  void d;
});

test('a waiter that aborts rejects with an AbortError, takes nothing, and the next waiter gets the permit', async () => {
  const permits = new Semaphore(1);
  const release = await permits.acquire();
  const controller = new AbortController();
  const givesUp = permits.acquire(controller.signal);
  const next = permits.acquire();
  controller.abort(new Error('job cancelled'));
  await assert.rejects(givesUp, (e) => isAbortError(e));
  await assert.rejects(permits.acquire(AbortSignal.abort()), (e) => isAbortError(e), 'an aborted signal while all are taken');
  release();
  const nextRelease = await next;
  assert.equal(permits.inUse, 1);
  nextRelease();
});

test('a serial lock runs tasks one at a time in order, and a failing task does not stop the next', async () => {
  const lock = new SerialLock();
  const log: string[] = [];
  let running = 0;
  const task = (name: string, fail = false) => async (): Promise<string> => {
    running++;
    assert.equal(running, 1, 'never two at once');
    log.push(`start ${name}`);
    await turn();
    log.push(`end ${name}`);
    running--;
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  const results = await Promise.allSettled([lock.exclusively(task('a')), lock.exclusively(task('b', true)), lock.exclusively(task('c'))]);
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
});
