import { EventEmitter, type Event } from 'cockatiel';
import type { Clock } from '../../core/clock.js';
import type { BreakerPolicy } from '../../core/recovery-policy.js';
import type { FailureType } from '../../core/vocabulary.js';
import { ClockCircuitBreaker, type BreakerState } from './clock-circuit-breaker.js';
import type { BreakerSnapshot, BreakerStateChange, RecoveryScope } from './recovery-records.js';

/** Failure types blamed on the model (its breaker) rather than on the backend, when a model is named. */
const MODEL_FAILURES: ReadonlySet<FailureType> = new Set<FailureType>(['model_loading_failure', 'vram_exhaustion']);

/** Circuit breakers per backend and per model on a backend, created on their first failure. */
export class BreakerRegistry {
  private readonly breakers = new Map<string, { scope: RecoveryScope; breaker: ClockCircuitBreaker }>();
  private readonly changeEmitter = new EventEmitter<BreakerStateChange>();
  /** A breaker opened, half-opened or closed. */
  readonly onStateChange: Event<BreakerStateChange> = this.changeEmitter.addListener;

  constructor(
    private readonly clock: Clock,
    private readonly policy: BreakerPolicy,
  ) {}

  /** Whether a backend (and, when given, a model on it) is in rotation: its breakers are closed or half-open. */
  isAvailable(backendId: string, modelId?: string): boolean {
    const backend = this.breakers.get(breakerKey({ backendId }));
    if (backend && !backend.breaker.isAvailable) return false;
    if (modelId === undefined) return true;
    const model = this.breakers.get(breakerKey({ backendId, modelId }));
    return !model || model.breaker.isAvailable;
  }

  /** State of the backend's breaker, or of the model's breaker on that backend when `modelId` is given. */
  state(backendId: string, modelId?: string): BreakerState {
    return this.breakers.get(breakerKey({ backendId, modelId }))?.breaker.state ?? 'closed';
  }

  /** Every breaker that has seen a failure. */
  snapshots(): BreakerSnapshot[] {
    return [...this.breakers.values()].map(({ scope, breaker }) => ({
      backendId: scope.backendId ?? '',
      ...(scope.modelId !== undefined && { modelId: scope.modelId }),
      state: breaker.state,
      consecutiveFailures: breaker.failures,
      reopensAt: breaker.reopensAt,
    }));
  }

  /** Work on a backend (and model) succeeded: resets failure counts and closes half-open breakers. */
  recordSuccess(backendId: string, modelId?: string): void {
    this.breakers.get(breakerKey({ backendId }))?.breaker.recordSuccess();
    if (modelId !== undefined) this.breakers.get(breakerKey({ backendId, modelId }))?.breaker.recordSuccess();
  }

  /** Counts a failure against the model's breaker (model failures with a model named) or the backend's. */
  recordFailure(failureType: FailureType, scope: RecoveryScope): void {
    if (scope.backendId === undefined) return;
    const breakerScope =
      MODEL_FAILURES.has(failureType) && scope.modelId !== undefined
        ? { backendId: scope.backendId, modelId: scope.modelId }
        : { backendId: scope.backendId };
    this.breakerFor(breakerScope).recordFailure();
  }

  /** Resets and forgets every breaker. */
  reset(): void {
    for (const { breaker } of this.breakers.values()) breaker.reset();
    this.breakers.clear();
  }

  private breakerFor(scope: RecoveryScope): ClockCircuitBreaker {
    const key = breakerKey(scope);
    const existing = this.breakers.get(key);
    if (existing) return existing.breaker;
    const breaker = new ClockCircuitBreaker(this.clock, this.policy);
    breaker.onStateChange((transition) =>
      this.changeEmitter.emit({
        ...transition,
        backendId: scope.backendId ?? '',
        ...(scope.modelId !== undefined && { modelId: scope.modelId }),
      }),
    );
    this.breakers.set(key, { scope, breaker });
    return breaker;
  }
}

function breakerKey(scope: RecoveryScope): string {
  return JSON.stringify([scope.backendId ?? null, scope.modelId ?? null]);
}
