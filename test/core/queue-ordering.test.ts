import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveRank, sortQueue, type Orderable } from '../../src/core/queue-ordering.js';

const item = (id: string, priority: Orderable['priority'], queuedAt: number, sequence: number) => ({ id, priority, queuedAt, sequence });

test('critical > high > normal > low, first come first served within a priority', () => {
  const items = [item('n1', 'normal', 0, 0), item('l1', 'low', 1, 1), item('c1', 'critical', 2, 2), item('n2', 'normal', 3, 3), item('h1', 'high', 4, 4)];
  assert.deepEqual(sortQueue(items, 10).map((i) => i.id), ['c1', 'h1', 'n1', 'n2', 'l1']);
});

test('ties in the same millisecond keep acceptance order', () => {
  const items = [item('b', 'normal', 5, 2), item('a', 'normal', 5, 1)];
  assert.deepEqual(sortQueue(items, 10).map((i) => i.id), ['a', 'b']);
});

test('aging raises a request one level per interval, never above critical', () => {
  const low = item('low', 'low', 0, 0);
  assert.equal(effectiveRank(low, 599_999, 600), 3);
  assert.equal(effectiveRank(low, 600_000, 600), 2);
  assert.equal(effectiveRank(low, 100 * 600_000, 600), 0);
  assert.equal(effectiveRank(low, 100 * 600_000, 0), 3, 'aging off');
  // After 20 minutes an old low request ranks with new high ones, and is older, so it goes first.
  const items = [item('new-high', 'high', 1_200_000, 1), low];
  assert.deepEqual(sortQueue(items, 1_200_000, 600).map((i) => i.id), ['low', 'new-high']);
  assert.deepEqual(sortQueue(items, 1_200_000, 0).map((i) => i.id), ['new-high', 'low']);
});
