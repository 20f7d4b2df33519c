/**
 * A circuit breaker that keeps time on the injected {@link Clock}.
 *
 * Why not cockatiel's: its CircuitBreakerPolicy and breakers read `Date.now()` directly, so under a ManualClock (or
 * the simulator's virtual clock) an open breaker would only half-open after real time passed. This one is small,
 * runs its open → half-open transition on a clock timer (so the change is announced on time), and is tested under
 * the ManualClock in test/recovery/clock-circuit-breaker.test.ts.
 *
 * closed: failures are counted; `failureThreshold` consecutive failures open it.
 * open: the target is out of rotation for the open time, then it becomes half-open.
 * half_open: the target may be tried again; a success closes the breaker, a failure opens it again for the open
 * time × `backoffMultiplier` (capped at `maxOpenSeconds`).
 */
import { EventEmitter, type Event } from 'cockatiel';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { BreakerPolicy } from '../../core/recovery-policy.js';

/** Breaker states. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** A transition of one breaker. */
export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** Epoch milliseconds. */
  readonly at: number;
  /** When the breaker will half-open, for transitions to `open`. */
  readonly reopensAt?: number;
}

/** One circuit breaker on a clock. */
export class ClockCircuitBreaker {
  private readonly stateChange = new EventEmitter<BreakerTransition>();
  /** Fires on every state transition. */
  readonly onStateChange: Event<BreakerTransition> = this.stateChange.addListener;

  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openMs: number;
  private openedUntil: number | null = null;
  private halfOpenTimer: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly policy: BreakerPolicy,
  ) {
    this.openMs = policy.openSeconds * 1000;
  }

  /** The current state. */
  get state(): BreakerState {
    return this.current;
  }

  /** Consecutive failures counted while closed. */
  get failures(): number {
    return this.consecutiveFailures;
  }

  /** When an open breaker half-opens (epoch ms); null unless open. */
  get reopensAt(): number | null {
    return this.openedUntil;
  }

  /** Whether the target may be used: closed, or half-open for a trial. */
  get isAvailable(): boolean {
    return this.current !== 'open';
  }

  /** Records a failure of the target. */
  recordFailure(): void {
    if (this.current === 'half_open') {
      this.openMs = Math.min(this.openMs * this.policy.backoffMultiplier, this.policy.maxOpenSeconds * 1000);
      this.open();
      return;
    }
    if (this.current === 'open') return;
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.policy.failureThreshold) this.open();
  }

  /** Records a success of the target; closes a half-open breaker. */
  recordSuccess(): void {
    this.consecutiveFailures = 0;
    if (this.current === 'half_open') {
      this.openMs = this.policy.openSeconds * 1000;
      this.transition('closed');
    }
  }

  /** Closes the breaker and forgets its history, without announcing it. */
  reset(): void {
    this.cancelTimer();
    this.current = 'closed';
    this.consecutiveFailures = 0;
    this.openMs = this.policy.openSeconds * 1000;
    this.openedUntil = null;
  }

  private open(): void {
    this.cancelTimer();
    this.consecutiveFailures = 0;
    this.openedUntil = this.clock.now() + this.openMs;
    this.halfOpenTimer = this.clock.setTimeout(() => {
      this.halfOpenTimer = null;
      this.openedUntil = null;
      this.transition('half_open');
    }, this.openMs);
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.current;
    this.current = to;
    this.stateChange.emit({
      from,
      to,
      at: this.clock.now(),
      ...(to === 'open' && this.openedUntil !== null && { reopensAt: this.openedUntil }),
    });
  }

  private cancelTimer(): void {
    if (this.halfOpenTimer) this.clock.clearTimeout(this.halfOpenTimer);
    this.halfOpenTimer = null;
  }
}
