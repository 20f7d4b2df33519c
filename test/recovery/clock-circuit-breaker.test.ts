import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockCircuitBreaker, type BreakerTransition } from '../../src/runtime/recovery/clock-circuit-breaker.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { parseRecoveryConfig } from '../../src/core/recovery-policy.js';

function setup(breaker = { failureThreshold: 3, openSeconds: 60, backoffMultiplier: 2, maxOpenSeconds: 150 }) {
  const clock = new ManualClock();
  const policy = parseRecoveryConfig({ breaker }).breaker;
  const cb = new ClockCircuitBreaker(clock, policy);
  const transitions: BreakerTransition[] = [];
  cb.onStateChange((t) => transitions.push(t));
  return { clock, cb, transitions, start: clock.now() };
}

void describe('ClockCircuitBreaker', () => {
  void test('opens after failureThreshold consecutive failures; a success in between resets the count', () => {
    const { cb } = setup();
    cb.recordFailure();
    cb.recordFailure();
    cb.recordSuccess();
    cb.recordFailure();
    cb.recordFailure();
    assert.equal(cb.state, 'closed');
    assert.equal(cb.failures, 2);
    cb.recordFailure();
    assert.equal(cb.state, 'open');
    assert.equal(cb.isAvailable, false);
  });

  void test('half-opens on the clock after openSeconds, then a success closes it', async () => {
    const { clock, cb, transitions, start } = setup();
    for (let i = 0; i < 3; i++) cb.recordFailure();
    assert.equal(cb.reopensAt, start + 60_000);
    await clock.advance(59_999);
    assert.equal(cb.state, 'open');
    await clock.advance(1);
    assert.equal(cb.state, 'half_open');
    assert.equal(cb.isAvailable, true);
    cb.recordSuccess();
    assert.equal(cb.state, 'closed');
    assert.deepEqual(
      transitions.map((t) => [t.from, t.to, t.at - start]),
      [
        ['closed', 'open', 0],
        ['open', 'half_open', 60_000],
        ['half_open', 'closed', 60_000],
      ],
    );
    assert.equal(transitions[0]?.reopensAt, start + 60_000);
  });

  void test('a failed trial reopens it for longer, capped at maxOpenSeconds; a success restores the base open time', async () => {
    const { clock, cb, start } = setup();
    for (let i = 0; i < 3; i++) cb.recordFailure();
    await clock.advance(60_000);
    cb.recordFailure();
    assert.equal(cb.state, 'open');
    assert.equal(cb.reopensAt, start + 60_000 + 120_000);
    await clock.advance(120_000);
    assert.equal(cb.state, 'half_open');
    cb.recordFailure();
    assert.equal(cb.reopensAt, start + 180_000 + 150_000, 'doubling to 240 s is capped at 150 s');
    await clock.advance(150_000);
    cb.recordSuccess();
    for (let i = 0; i < 3; i++) cb.recordFailure();
    assert.equal(cb.reopensAt, clock.now() + 60_000);
  });

  void test('failures while open are ignored and reset() closes silently, cancelling the timer', async () => {
    const { clock, cb, transitions } = setup();
    for (let i = 0; i < 5; i++) cb.recordFailure();
    assert.equal(transitions.length, 1);
    cb.reset();
    assert.equal(cb.state, 'closed');
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(120_000);
    assert.equal(cb.state, 'closed');
    assert.equal(transitions.length, 1);
  });
});
