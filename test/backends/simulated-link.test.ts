import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedLink } from '../../src/adapters/simulated-link.js';
import { ManualClock } from '../../src/runtime/clocks.js';

test('downloads share the link: two at once go at half speed, the survivor speeds up when one ends', async () => {
  const clock = new ManualClock(0);
  const link = new SimulatedLink(100, clock);
  const ended: Record<string, number> = {};
  void link.transfer('small', 1000).then(() => (ended.small = clock.now()));
  void link.transfer('big', 3000).then(() => (ended.big = clock.now()));
  await clock.advance(5000);
  assert.deepEqual(link.progress('big'), { bytesDone: 250, bytesTotal: 3000, bytesPerSecond: 50 });
  await clock.advance(60_000);
  // small: 1000 B at 50 B/s = 20 s; big: 1000 B by then, 2000 B left at 100 B/s = 20 s more.
  assert.deepEqual(ended, { small: 20_000, big: 40_000 });
  assert.equal(link.progress('big'), undefined);
  assert.throws(() => new SimulatedLink(0, clock), /positive/);
});
