import { FAILURE_TYPES, RECOVERY_ACTIONS, type FailureType, type RecoveryAction } from '../../core/vocabulary.js';
import type { RecoveryAttempt, RecoveryStatistics } from './recovery-records.js';

/** Counts and times of recovery, for {@link RecoveryStatistics}. */
export class RecoveryCounters {
  private c = emptyCounts();

  /** Starts counting from zero. */
  reset(): void {
    this.c = emptyCounts();
  }

  /** A failure was handed to recovery. */
  countFailure(): void {
    this.c.failuresHandled++;
  }

  /** A failure was not recovered because its type was cooling down or already recovering. */
  countSkipped(): void {
    this.c.skippedForCooldown++;
  }

  /** A failure was recovered `afterMs` after it was handed over. */
  countRecovered(afterMs: number): void {
    this.c.failuresRecovered++;
    this.c.recoveryTimeMs += afterMs;
  }

  /** One action tried. */
  countAttempt(attempt: RecoveryAttempt): void {
    this.c.totalAttempts++;
    this.c.attemptsByFailureType[attempt.failureType]++;
    this.c.attemptsByAction[attempt.action]++;
    if (!attempt.success) return;
    this.c.successfulAttempts++;
    this.c.successfulDurationMs += attempt.endedAt - attempt.timestamp;
    this.c.successesByFailureType[attempt.failureType]++;
    this.c.successesByAction[attempt.action]++;
  }

  /** The statistics, with the mode the system is in now. */
  statistics(mockModeActive: boolean, degradedReasons: readonly string[]): RecoveryStatistics {
    return {
      totalAttempts: this.c.totalAttempts,
      successfulAttempts: this.c.successfulAttempts,
      successRate: this.c.totalAttempts === 0 ? 0 : Math.round((this.c.successfulAttempts / this.c.totalAttempts) * 10_000) / 100,
      averageRecoveryTimeMs: this.c.successfulAttempts === 0 ? 0 : this.c.successfulDurationMs / this.c.successfulAttempts,
      meanTimeToRecoverMs: this.c.failuresRecovered === 0 ? 0 : this.c.recoveryTimeMs / this.c.failuresRecovered,
      attemptsByFailureType: { ...this.c.attemptsByFailureType },
      successesByFailureType: { ...this.c.successesByFailureType },
      attemptsByAction: { ...this.c.attemptsByAction },
      successesByAction: { ...this.c.successesByAction },
      failuresHandled: this.c.failuresHandled,
      failuresRecovered: this.c.failuresRecovered,
      skippedForCooldown: this.c.skippedForCooldown,
      mockModeActive,
      degradedMode: degradedReasons.length > 0,
      degradedReasons,
    };
  }
}

function emptyCounts() {
  return {
    totalAttempts: 0,
    successfulAttempts: 0,
    successfulDurationMs: 0,
    recoveryTimeMs: 0,
    failuresHandled: 0,
    failuresRecovered: 0,
    skippedForCooldown: 0,
    attemptsByFailureType: zeroCounts(FAILURE_TYPES),
    successesByFailureType: zeroCounts(FAILURE_TYPES),
    attemptsByAction: zeroCounts(RECOVERY_ACTIONS),
    successesByAction: zeroCounts(RECOVERY_ACTIONS),
  };
}

function zeroCounts<K extends FailureType | RecoveryAction>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}
