/** The records, events and errors of recovery: what a recovery tried, what it found, and what it reports. */
import type { GenerationSettings } from '../../core/estimates.js';
import type { OverallHealth } from '../../core/health-assessment.js';
import type { RequirementAdjustment } from '../../core/reduction.js';
import type { FailureType, RecoveryAction } from '../../core/vocabulary.js';
import type { BreakerState, BreakerTransition } from './clock-circuit-breaker.js';
import type { RecoveryTarget } from './recovery-target.js';

/**
 * Smaller settings from the planner's reduction ladder and what changed; core/reduction.ts's `Reduction` fits, so
 * the engine can pass `findReduction` results straight through.
 */
export interface GenerationReduction {
  readonly settings: GenerationSettings;
  readonly adjustments: readonly RequirementAdjustment[];
}

/** What is known about the failure being recovered. */
export interface RecoveryContext {
  /** The backend to repair; defaults to the system's own target. */
  readonly target?: RecoveryTarget;
  /** Scope of cooldown and circuit breaker; defaults to the id of the target (this one or the system's). */
  readonly backendId?: string;
  /** Model involved; scopes cooldown and circuit breaker, and is what retry_model_download downloads. */
  readonly modelId?: string;
  readonly jobId?: string;
  readonly generation?: GenerationSettings;
}

/** The planner's reduction ladder: smaller settings for the context's generation, or null when nothing is left to reduce. */
export type ReduceGenerationParams = (
  context: RecoveryContext,
) => GenerationReduction | null | Promise<GenerationReduction | null>;

/** Where a recovery run came from. */
export type RecoveryTrigger = 'failure' | 'health_monitor';

/** The context recorded with each attempt (serialisable: the target is named, not embedded). */
export interface AttemptContext {
  readonly trigger: RecoveryTrigger;
  readonly failureMessage: string;
  readonly targetId?: string;
  readonly backendId?: string;
  readonly modelId?: string;
  readonly jobId?: string;
  readonly generation?: GenerationSettings;
}

/** One recovery action tried (`recovery_attempt` event): the reference's record, with when it ended and how it failed. */
export interface RecoveryAttempt {
  readonly failureType: FailureType;
  readonly action: RecoveryAction;
  /** When the action started, epoch milliseconds. */
  readonly timestamp: number;
  readonly success: boolean;
  /** Why the action failed; null on success. */
  readonly errorMessage: string | null;
  /** How long the action took, seconds. */
  readonly recoveryTimeSeconds: number;
  readonly context: AttemptContext;
  /** When the action ended, epoch milliseconds. */
  readonly endedAt: number;
  /** What kind of failure: the target rejected, or a {@link RecoveryActionErrorKind}; null on success. */
  readonly errorKind: AttemptErrorKind | null;
}

/** The outcome of {@link FallbackRecoverySystem.handleFailure}. */
export interface RecoveryResult {
  readonly recovered: boolean;
  readonly message: string;
  readonly failureType: FailureType;
  readonly attempts: readonly RecoveryAttempt[];
  /** The action that succeeded. */
  readonly action?: RecoveryAction;
  /** What reduce_generation_params changed, with reasons, when it succeeded. */
  readonly adjustments?: readonly RequirementAdjustment[];
  /** The settings to run with, when reduce_generation_params succeeded. */
  readonly reducedSettings?: GenerationSettings;
  /** Whether preview (mock) mode is active after this recovery. */
  readonly mockMode: boolean;
  /** Set when nothing was tried because the failure type (in this scope) is cooling down. */
  readonly cooldownRemainingSeconds?: number;
}

/**
 * Cooldown and breaker scope: a backend, a model on a backend, or (empty) the failure type as a whole. Two scopes
 * overlap unless they name different backends or different models: model A's cooldown on gpu-1 does not block model
 * B, but it does block a recovery for gpu-1 as a whole, and an empty scope overlaps every scope.
 */
export interface RecoveryScope {
  readonly backendId?: string;
  readonly modelId?: string;
}

/** A breaker changed state (`onBreakerStateChange`). */
export interface BreakerStateChange extends BreakerTransition {
  readonly backendId: string;
  /** Set for a model's breaker, absent for the backend's. */
  readonly modelId?: string;
}

/** One breaker as it stands. */
export interface BreakerSnapshot {
  readonly backendId: string;
  readonly modelId?: string;
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  /** When an open breaker half-opens (epoch ms). */
  readonly reopensAt: number | null;
}

/** Preview mode switched on or off. */
export interface MockModeChange {
  readonly active: boolean;
  readonly reason: string;
  readonly at: number;
}

/** A model download try failed and another follows after `delayMs`. */
export interface DownloadRetry {
  readonly targetId: string;
  readonly modelId: string;
  /** 1-based number of the try that failed. */
  readonly failedTry: number;
  readonly delayMs: number;
  readonly error: string;
}

/** A recovery the health monitor started. */
export interface TriggeredRecovery {
  readonly failureType: FailureType;
  readonly recovered: boolean;
  readonly message: string;
}

/** The system as a whole (`system_status` event), sent after every monitor check and when preview mode changes. */
export interface SystemStatus {
  readonly at: number;
  /** The latest health verdict; null before the first check. */
  readonly health: OverallHealth | null;
  readonly mockModeActive: boolean;
  readonly degradedMode: boolean;
  readonly degradedReasons: readonly string[];
  /** Backends and models out of rotation. */
  readonly openBreakers: readonly BreakerSnapshot[];
  /** Recoveries the monitor started in this check. */
  readonly triggered: readonly TriggeredRecovery[];
}

/** Counts and times of recovery since construction or the last reset. */
export interface RecoveryStatistics {
  readonly totalAttempts: number;
  readonly successfulAttempts: number;
  /** successfulAttempts ÷ totalAttempts in percent, two decimals; 0 without attempts. */
  readonly successRate: number;
  /** Mean duration of successful attempts. */
  readonly averageRecoveryTimeMs: number;
  /** Mean time from the start of handling a failure to the end of the action that recovered it. */
  readonly meanTimeToRecoverMs: number;
  readonly attemptsByFailureType: Readonly<Record<FailureType, number>>;
  readonly successesByFailureType: Readonly<Record<FailureType, number>>;
  readonly attemptsByAction: Readonly<Record<RecoveryAction, number>>;
  readonly successesByAction: Readonly<Record<RecoveryAction, number>>;
  /** Failures handed to recovery (including health monitor triggers and those skipped for cooldown). */
  readonly failuresHandled: number;
  readonly failuresRecovered: number;
  readonly skippedForCooldown: number;
  readonly mockModeActive: boolean;
  /** True while running below full capability: preview mode, CPU offload or VRAM savers on, or health not healthy. */
  readonly degradedMode: boolean;
  readonly degradedReasons: readonly string[];
}

/**
 * Why a recovery action failed without the target itself rejecting: the target lacks the method, the action timed
 * out, something it needs is missing (no target, no model id, no reduction ladder), or it ran and did not help.
 */
export type RecoveryActionErrorKind = 'not_supported' | 'timed_out' | 'unavailable' | 'unsuccessful';

/** How an attempt failed: `rejected` when the target's method rejected, otherwise a {@link RecoveryActionErrorKind}. */
export type AttemptErrorKind = RecoveryActionErrorKind | 'rejected';

/** A recovery action could not run or did not work; recorded as the attempt's error. */
export class RecoveryActionError extends Error {
  override readonly name = 'RecoveryActionError';

  constructor(
    readonly kind: RecoveryActionErrorKind,
    readonly action: RecoveryAction,
    message: string,
  ) {
    super(message);
  }
}

/** True when `error` is a {@link RecoveryActionError}. */
export function isRecoveryActionError(error: unknown): error is RecoveryActionError {
  return error instanceof RecoveryActionError;
}

/** Port: how retry_model_download fetches a model when the engine manages downloads. */
export interface RecoveryDownloads {
  /** Whether anything can download `modelId`. */
  canDownload(modelId: string): boolean;
  /** Downloads `modelId`; `signal` stops the wait. */
  download(modelId: string, signal: AbortSignal): Promise<void>;
}
