import type { Clock } from '../../core/clock.js';
import type { FailureType } from '../../core/vocabulary.js';
import type { RecoveryContext, RecoveryScope } from './recovery-records.js';
import type { RecoveryTarget } from './recovery-target.js';

interface ScopedEntry {
  readonly failureType: FailureType;
  readonly scope: RecoveryScope;
}

/**
 * Cooldowns per failure type and scope (backend, model): recovery of a type is not started again in an overlapping
 * scope while one runs, nor for `cooldownSeconds` after it ended. Scopes overlap unless they name different backends
 * or different models; a missing part matches any.
 */
export class ScopedCooldowns {
  private readonly cooldowns = new Map<string, ScopedEntry & { until: number }>();
  private readonly inProgress = new Map<string, ScopedEntry>();

  constructor(
    private readonly clock: Clock,
    private readonly cooldownSeconds: number,
  ) {}

  /** Whether a recovery of `failureType` runs in a scope overlapping `scope`. */
  isRunning(failureType: FailureType, scope: RecoveryScope): boolean {
    return [...this.inProgress.values()].some((entry) => overlaps(entry, failureType, scope));
  }

  /** Seconds until `failureType` may be recovered in `scope`; a recovery still running counts as the full cooldown. */
  remainingSeconds(failureType: FailureType, scope: RecoveryScope): number {
    let remainingMs = 0;
    for (const entry of this.inProgress.values()) {
      if (overlaps(entry, failureType, scope)) remainingMs = Math.max(remainingMs, this.cooldownSeconds * 1000);
    }
    for (const entry of this.cooldowns.values()) {
      if (overlaps(entry, failureType, scope)) remainingMs = Math.max(remainingMs, entry.until - this.clock.now());
    }
    return remainingMs / 1000;
  }

  /** Drops cooldowns that have ended. */
  forgetExpired(): void {
    for (const [key, entry] of this.cooldowns) if (entry.until <= this.clock.now()) this.cooldowns.delete(key);
  }

  /** Marks a recovery running; the returned function ends it and starts its cooldown. */
  begin(failureType: FailureType, scope: RecoveryScope): () => void {
    const key = cooldownKey(failureType, scope);
    this.inProgress.set(key, { failureType, scope });
    return () => {
      this.inProgress.delete(key);
      this.cooldowns.set(key, { failureType, scope, until: this.clock.now() + this.cooldownSeconds * 1000 });
    };
  }

  /** Forgets every cooldown; recoveries still running set theirs as usual when they end. */
  clear(): void {
    this.cooldowns.clear();
  }
}

/** The scope of a failure: its backend (named, or the target's id) and model. */
export function scopeOf(context: RecoveryContext, defaultTarget: RecoveryTarget | undefined): RecoveryScope {
  const backendId = context.backendId ?? (context.target ?? defaultTarget)?.id;
  return {
    ...(backendId !== undefined && { backendId }),
    ...(context.modelId !== undefined && { modelId: context.modelId }),
  };
}

/** Whether a cooldown or running recovery applies to `failureType` in `scope`. */
function overlaps(entry: ScopedEntry, failureType: FailureType, scope: RecoveryScope): boolean {
  const compatible = (a: string | undefined, b: string | undefined): boolean => a === undefined || b === undefined || a === b;
  return (
    entry.failureType === failureType &&
    compatible(entry.scope.backendId, scope.backendId) &&
    compatible(entry.scope.modelId, scope.modelId)
  );
}

function cooldownKey(failureType: FailureType, scope: RecoveryScope): string {
  return JSON.stringify([failureType, scope.backendId ?? null, scope.modelId ?? null]);
}
