import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exponentialBackoffMs } from '../../src/core/backoff.js';

const options = { initialMs: 5000, multiplier: 2, maxMs: 60_000, jitterRatio: 0.2 };

test('the delay doubles per failed try and stops growing at the cap', () => {
  const noSpread = (): number => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => exponentialBackoffMs(options, n, noSpread)),
    [5000, 10_000, 20_000, 40_000, 60_000],
  );
});

test('jitter spreads the delay by at most the ratio either way', () => {
  assert.equal(exponentialBackoffMs(options, 1, () => 0), 4000);
  assert.equal(exponentialBackoffMs(options, 1, () => 0.999999), 6000);
});
