import type { Clock } from '../../core/clock.js';
import type { RecoveryPolicy } from '../../core/recovery-policy.js';
import type { RecoveryAction } from '../../core/vocabulary.js';
import type { ActionOutcome, RecoveryActions, RunState } from './recovery-actions.js';
import type { RecoveryCounters } from './recovery-counters.js';
import { isRecoveryActionError, type AttemptErrorKind, type RecoveryAttempt, type RecoveryResult } from './recovery-records.js';

/** What a chain needs from the recovery system. */
export interface RecoveryChainOptions {
  readonly clock: Clock;
  readonly policy: RecoveryPolicy;
  readonly actions: RecoveryActions;
  readonly counters: RecoveryCounters;
  /** Whether preview mode is active now (reported with the result). */
  readonly mockModeActive: () => boolean;
  /** Called with every attempt as it ends. */
  readonly onAttempt: (attempt: RecoveryAttempt, run: RunState) => void;
}

/** Walks a failure type's recovery chain in order, within the attempt budget, and stops at the first success. */
export class RecoveryChain {
  constructor(private readonly options: RecoveryChainOptions) {}

  /** Runs the chain of `run.failureType`; `startedAt` is when the failure was handed over (for time to recover). */
  async run(run: RunState, startedAt: number): Promise<RecoveryResult> {
    const failureType = run.failureType;
    const chain = this.options.policy.chains[failureType];
    const budget = Math.min(chain.length, this.options.policy.maxRecoveryAttempts);
    const attempts: RecoveryAttempt[] = [];
    for (const action of chain.slice(0, budget)) {
      const { attempt, outcome } = await this.attempt(action, run);
      attempts.push(attempt);
      if (!outcome) continue;
      this.options.counters.countRecovered(attempt.endedAt - startedAt);
      return {
        recovered: true,
        message:
          action === 'fallback_to_mock'
            ? `Switched to preview mode after ${failureType}: results are labelled previews until a backend recovers`
            : `Recovered from ${failureType} with ${action} (attempt ${attempts.length} of ${budget})`,
        failureType,
        attempts,
        action,
        ...(outcome.reduction && {
          adjustments: outcome.reduction.adjustments,
          reducedSettings: outcome.reduction.settings,
        }),
        mockMode: this.options.mockModeActive(),
      };
    }
    const skipped = chain.slice(budget);
    const tried = attempts.map((a) => `${a.action} (${a.errorMessage ?? 'failed'})`).join('; ');
    return {
      recovered: false,
      message:
        `Could not recover from ${failureType}: ${tried}` +
        (skipped.length > 0
          ? `; stopped after ${budget} attempts (maxRecoveryAttempts), not tried: ${skipped.join(', ')}`
          : ''),
      failureType,
      attempts,
      mockMode: this.options.mockModeActive(),
    };
  }

  /** Tries one action and records the attempt. */
  private async attempt(
    action: RecoveryAction,
    run: RunState,
  ): Promise<{ attempt: RecoveryAttempt; outcome: ActionOutcome | null }> {
    const startedAt = this.options.clock.now();
    let outcome: ActionOutcome | null = null;
    let error: string | null = null;
    let errorKind: AttemptErrorKind | null = null;
    try {
      outcome = await this.options.actions.run(action, run);
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
      errorKind = isRecoveryActionError(failure) ? failure.kind : 'rejected';
    }
    const endedAt = this.options.clock.now();
    const attempt: RecoveryAttempt = {
      failureType: run.failureType,
      action,
      timestamp: startedAt,
      success: outcome !== null,
      errorMessage: error,
      recoveryTimeSeconds: (endedAt - startedAt) / 1000,
      context: run.attemptContext,
      endedAt,
      errorKind,
    };
    this.options.counters.countAttempt(attempt);
    this.options.onAttempt(attempt, run);
    return { attempt, outcome };
  }
}
