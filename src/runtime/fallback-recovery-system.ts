/**
 * The fallback and recovery system: given a failure, runs the recovery chain for its type against the backend,
 * without thrashing (cooldowns per failure type and per backend/model scope, an attempt budget, per-action timeouts,
 * circuit breakers), watches the machine's health and reports statistics. All time comes from the injected Clock;
 * the circuit breakers are our own ClockCircuitBreaker, because cockatiel's breaker reads Date.now().
 */
import { EventEmitter, type Event } from 'cockatiel';
import { sleep, type Clock } from '../core/clock.js';
import {
  classifyFailure,
  toClassificationRules,
  type ClassificationRule,
  type FailureClassification,
} from '../core/failure-classification.js';
import type { GenerationSettings } from '../core/estimates.js';
import type { OverallHealth, SystemHealthStatus } from '../core/health-assessment.js';
import {
  actionTimeoutMs,
  downloadRetryDelayMs,
  parseRecoveryConfig,
  type RecoveryConfig,
  type RecoveryPolicy,
} from '../core/recovery-policy.js';
import { ValidationError } from '../core/validation.js';
import type { RequirementAdjustment } from '../core/reduction.js';
import { FAILURE_TYPES, RECOVERY_ACTIONS, type FailureType, type RecoveryAction } from '../core/vocabulary.js';
import { ClockCircuitBreaker, type BreakerState, type BreakerTransition } from './clock-circuit-breaker.js';
import { HealthMonitor, type HealthProbe, type VramReporter } from './health-monitor.js';
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

/** One recovery action tried (`recovery_attempt` event). */
export interface RecoveryAttempt {
  readonly failureType: FailureType;
  readonly action: RecoveryAction;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly success: boolean;
  /** Why the action failed; null on success. */
  readonly error: string | null;
  /** What kind of failure: the target rejected, or a {@link RecoveryActionErrorKind}; null on success. */
  readonly errorKind: AttemptErrorKind | null;
  readonly durationMs: number;
  readonly context: AttemptContext;
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

/** Construction options of {@link FallbackRecoverySystem}. */
export interface FallbackRecoverySystemOptions {
  readonly clock: Clock;
  /** Reads the machine for health checks. */
  readonly probe: HealthProbe;
  /** Recovery configuration; defaults as documented in recovery-policy.ts. */
  readonly config?: RecoveryConfig;
  /** The planner's reduction ladder; without it reduce_generation_params fails. */
  readonly reduceGenerationParams?: ReduceGenerationParams;
  /** Backend repaired when a failure's context names none, including the health monitor's own recoveries. */
  readonly target?: RecoveryTarget;
  /** Backend-reported GPU memory, preferred over nvidia-smi's. */
  readonly vramReporter?: VramReporter;
  /** Random numbers in [0, 1) for download retry jitter; defaults to Math.random. */
  readonly random?: () => number;
  /**
   * The engine's model downloads, which retry_model_download goes through when given (so a model whose files
   * Understudy manages is fetched into the models directory, as every other download is); default: the target's own
   * `ensureModelDownloaded`.
   */
  readonly downloads?: RecoveryDownloads;
}

/** Port: how retry_model_download fetches a model when the engine manages downloads. */
export interface RecoveryDownloads {
  /** Whether anything can download `modelId`. */
  canDownload(modelId: string): boolean;
  /** Downloads `modelId`; `signal` stops the wait. */
  download(modelId: string, signal: AbortSignal): Promise<void>;
}

/** Failure types blamed on the model (its breaker) rather than on the backend, when a model is named. */
const MODEL_FAILURES: ReadonlySet<FailureType> = new Set<FailureType>(['model_loading_failure', 'vram_exhaustion']);

/** Successful actions that leave the backend running below full capability. */
const DEGRADING_ACTIONS: Partial<Record<RecoveryAction, string>> = {
  enable_cpu_offload: 'CPU offload enabled',
  apply_vram_optimization: 'VRAM optimizations applied',
};

interface ScopedEntry {
  readonly failureType: FailureType;
  readonly scope: RecoveryScope;
}

interface RunState {
  readonly failureType: FailureType;
  readonly context: RecoveryContext;
  readonly target: RecoveryTarget | undefined;
  readonly attemptContext: AttemptContext;
}

interface ActionOutcome {
  readonly reduction?: GenerationReduction;
}

interface Counters {
  totalAttempts: number;
  successfulAttempts: number;
  successfulDurationMs: number;
  recoveryTimeMs: number;
  failuresHandled: number;
  failuresRecovered: number;
  skippedForCooldown: number;
  attemptsByFailureType: Record<FailureType, number>;
  successesByFailureType: Record<FailureType, number>;
  attemptsByAction: Record<RecoveryAction, number>;
  successesByAction: Record<RecoveryAction, number>;
}

/** Runs recovery chains against backends, with cooldowns, breakers, health monitoring and statistics. */
export class FallbackRecoverySystem {
  /** The validated policy in force. */
  readonly policy: RecoveryPolicy;

  private readonly attemptEmitter = new EventEmitter<RecoveryAttempt>();
  private readonly breakerEmitter = new EventEmitter<BreakerStateChange>();
  private readonly mockModeEmitter = new EventEmitter<MockModeChange>();
  private readonly downloadRetryEmitter = new EventEmitter<DownloadRetry>();
  private readonly systemStatusEmitter = new EventEmitter<SystemStatus>();

  /** Every recovery action tried (`recovery_attempt`). */
  readonly onRecoveryAttempt: Event<RecoveryAttempt> = this.attemptEmitter.addListener;
  /** A backend's or model's circuit breaker changed state. */
  readonly onBreakerStateChange: Event<BreakerStateChange> = this.breakerEmitter.addListener;
  /** Preview (mock) mode switched on or off. */
  readonly onMockModeChange: Event<MockModeChange> = this.mockModeEmitter.addListener;
  /** A model download try failed and will be retried. */
  readonly onDownloadRetry: Event<DownloadRetry> = this.downloadRetryEmitter.addListener;
  /** Every health check (`health_status`). */
  readonly onHealthStatus: Event<SystemHealthStatus>;
  /** The system as a whole after each monitor check and on preview mode changes (`system_status`). */
  readonly onSystemStatus: Event<SystemStatus> = this.systemStatusEmitter.addListener;

  private readonly clock: Clock;
  private readonly monitor: HealthMonitor;
  private readonly classificationRules: readonly ClassificationRule[];
  private readonly reduceGenerationParams: ReduceGenerationParams | undefined;
  private readonly defaultTarget: RecoveryTarget | undefined;
  private readonly random: () => number;
  private readonly downloads: RecoveryDownloads | undefined;

  private readonly cooldowns = new Map<string, ScopedEntry & { until: number }>();
  private readonly inProgress = new Map<string, ScopedEntry>();
  private readonly breakers = new Map<string, { scope: RecoveryScope; breaker: ClockCircuitBreaker }>();
  private readonly degradedReasons = new Map<string, string>();
  private mockMode = false;
  private counters: Counters = emptyCounters();

  constructor(options: FallbackRecoverySystemOptions) {
    this.clock = options.clock;
    this.policy = parseRecoveryConfig(options.config ?? {});
    this.classificationRules = toClassificationRules(this.policy.classificationRules);
    this.reduceGenerationParams = options.reduceGenerationParams;
    this.defaultTarget = options.target;
    this.random = options.random ?? Math.random;
    this.downloads = options.downloads;
    this.monitor = new HealthMonitor({
      clock: options.clock,
      probe: options.probe,
      thresholds: this.policy.health,
      ...(options.vramReporter && { vramReporter: options.vramReporter }),
    });
    this.onHealthStatus = this.monitor.onHealthStatus;
  }

  /** Classifies an error with the built-in table and the configured extra rules. */
  classify(error: unknown): FailureClassification {
    return classifyFailure(error, this.classificationRules);
  }

  /**
   * Recovers from a failure: counts it against the backend's or model's circuit breaker, then, unless the failure
   * type is cooling down in this scope, tries its chain in order (at most `maxRecoveryAttempts` actions, each within
   * its timeout) and stops at the first success. Never rejects for a failed action; rejects with a
   * ValidationError for an unknown failure type.
   */
  async handleFailure(failureType: FailureType, error: unknown, context: RecoveryContext = {}): Promise<RecoveryResult> {
    if (!FAILURE_TYPES.includes(failureType)) {
      throw new ValidationError('handleFailure arguments', [
        { field: 'failureType', problem: `expected one of ${FAILURE_TYPES.join(', ')}`, received: failureType },
      ]);
    }
    const scope = scopeOf(context, this.defaultTarget);
    this.recordTargetFailure(failureType, scope);
    return this.recover(failureType, error, context, scope, 'failure');
  }

  /**
   * Whether recovery of `failureType` is cooling down or running in a scope overlapping `scope` (see
   * {@link RecoveryScope}); without a scope, anywhere.
   */
  isInCooldown(failureType: FailureType, scope: RecoveryScope = {}): boolean {
    return this.runningFor(failureType, scope) || this.getCooldownRemaining(failureType, scope) > 0;
  }

  /**
   * Seconds until `failureType` may be recovered again in `scope`: the longest cooldown among overlapping scopes
   * (see {@link RecoveryScope}). A recovery still running counts as the full cooldown, which starts when it ends.
   */
  getCooldownRemaining(failureType: FailureType, scope: RecoveryScope = {}): number {
    let remainingMs = 0;
    for (const entry of this.inProgress.values()) {
      if (overlaps(entry, failureType, scope)) remainingMs = Math.max(remainingMs, this.policy.cooldownSeconds * 1000);
    }
    for (const entry of this.cooldowns.values()) {
      if (overlaps(entry, failureType, scope)) remainingMs = Math.max(remainingMs, entry.until - this.clock.now());
    }
    return remainingMs / 1000;
  }

  /** Whether a backend (and, when given, a model on it) is in rotation: its breakers are closed or half-open. */
  isAvailable(backendId: string, modelId?: string): boolean {
    const backend = this.breakers.get(breakerKey({ backendId }));
    if (backend && !backend.breaker.isAvailable) return false;
    if (modelId === undefined) return true;
    const model = this.breakers.get(breakerKey({ backendId, modelId }));
    return !model || model.breaker.isAvailable;
  }

  /** State of the backend's breaker, or of the model's breaker on that backend when `modelId` is given. */
  getBreakerState(backendId: string, modelId?: string): BreakerState {
    return this.breakers.get(breakerKey({ backendId, modelId }))?.breaker.state ?? 'closed';
  }

  /** Every breaker that has seen a failure. */
  getBreakerStates(): BreakerSnapshot[] {
    return [...this.breakers.values()].map(({ scope, breaker }) => ({
      backendId: scope.backendId ?? '',
      ...(scope.modelId !== undefined && { modelId: scope.modelId }),
      state: breaker.state,
      consecutiveFailures: breaker.failures,
      reopensAt: breaker.reopensAt,
    }));
  }

  /** Reports that work on a backend (and model) succeeded: resets failure counts and closes half-open breakers. */
  recordSuccess(backendId: string, modelId?: string): void {
    this.breakers.get(breakerKey({ backendId }))?.breaker.recordSuccess();
    if (modelId !== undefined) this.breakers.get(breakerKey({ backendId, modelId }))?.breaker.recordSuccess();
  }

  /** Checks the machine now (also announced as `health_status`). */
  getSystemHealthStatus(): Promise<SystemHealthStatus> {
    return this.monitor.check();
  }

  /**
   * Checks health now and every `intervalMs` (default 60 s) on the clock. VRAM above the high threshold starts
   * vram_exhaustion recovery; a critical finding other than VRAM starts system_resource_error recovery. Both run
   * type-wide against the system's own target and respect cooldowns. Each check ends with a `system_status` event.
   */
  startHealthMonitoring(intervalMs = 60_000): void {
    this.monitor.start(intervalMs, (status) => this.reactToHealth(status));
  }

  /** Stops periodic health checks. */
  stopHealthMonitoring(): void {
    this.monitor.stop();
  }

  /** Whether preview (mock) mode is active. */
  get mockModeActive(): boolean {
    return this.mockMode;
  }

  /** Leaves preview mode, e.g. once a real backend works again. */
  exitMockMode(reason: string): void {
    if (!this.mockMode) return;
    this.mockMode = false;
    this.degradedReasons.delete('mock');
    this.mockModeEmitter.emit({ active: false, reason, at: this.clock.now() });
    this.systemStatusEmitter.emit(this.systemStatus([]));
  }

  /** Counts and times of recovery since construction or the last reset. */
  getRecoveryStatistics(): RecoveryStatistics {
    const c = this.counters;
    const reasons = this.currentDegradedReasons();
    return {
      totalAttempts: c.totalAttempts,
      successfulAttempts: c.successfulAttempts,
      successRate: c.totalAttempts === 0 ? 0 : Math.round((c.successfulAttempts / c.totalAttempts) * 10_000) / 100,
      averageRecoveryTimeMs: c.successfulAttempts === 0 ? 0 : c.successfulDurationMs / c.successfulAttempts,
      meanTimeToRecoverMs: c.failuresRecovered === 0 ? 0 : c.recoveryTimeMs / c.failuresRecovered,
      attemptsByFailureType: { ...c.attemptsByFailureType },
      successesByFailureType: { ...c.successesByFailureType },
      attemptsByAction: { ...c.attemptsByAction },
      successesByAction: { ...c.successesByAction },
      failuresHandled: c.failuresHandled,
      failuresRecovered: c.failuresRecovered,
      skippedForCooldown: c.skippedForCooldown,
      mockModeActive: this.mockMode,
      degradedMode: reasons.length > 0,
      degradedReasons: reasons,
    };
  }

  /**
   * Starts over: clears cooldowns, circuit breakers, preview mode, degraded reasons and statistics. Recoveries still
   * running finish and set their cooldowns as usual.
   */
  resetRecoveryState(): void {
    this.cooldowns.clear();
    for (const { breaker } of this.breakers.values()) breaker.reset();
    this.breakers.clear();
    this.degradedReasons.clear();
    this.counters = emptyCounters();
    if (this.mockMode) this.exitMockMode('recovery state reset');
  }

  private async recover(
    failureType: FailureType,
    error: unknown,
    context: RecoveryContext,
    scope: RecoveryScope,
    trigger: RecoveryTrigger,
  ): Promise<RecoveryResult> {
    const startedAt = this.clock.now();
    this.counters.failuresHandled++;
    this.forgetExpiredCooldowns();
    const busy = this.runningFor(failureType, scope);
    const remaining = this.getCooldownRemaining(failureType, scope);
    if (busy || remaining > 0) {
      this.counters.skippedForCooldown++;
      return {
        recovered: false,
        message: busy
          ? `Recovery from ${failureType} is already running here; it will not be started twice`
          : `Recovery from ${failureType} is cooling down: ${Math.ceil(remaining)} s remain`,
        failureType,
        attempts: [],
        mockMode: this.mockMode,
        cooldownRemainingSeconds: remaining,
      };
    }

    const key = cooldownKey(failureType, scope);
    this.inProgress.set(key, { failureType, scope });
    try {
      const target = context.target ?? this.defaultTarget;
      const run: RunState = {
        failureType,
        context,
        target,
        attemptContext: {
          trigger,
          failureMessage: this.classify(error).message,
          ...(target && { targetId: target.id }),
          ...(scope.backendId !== undefined && { backendId: scope.backendId }),
          ...(scope.modelId !== undefined && { modelId: scope.modelId }),
          ...(context.jobId !== undefined && { jobId: context.jobId }),
          ...(context.generation !== undefined && { generation: context.generation }),
        },
      };
      const chain = this.policy.chains[failureType];
      const budget = Math.min(chain.length, this.policy.maxRecoveryAttempts);
      const attempts: RecoveryAttempt[] = [];
      for (const action of chain.slice(0, budget)) {
        const { attempt, outcome } = await this.attempt(action, run);
        attempts.push(attempt);
        if (!outcome) continue;
        this.counters.failuresRecovered++;
        this.counters.recoveryTimeMs += attempt.endedAt - startedAt;
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
          mockMode: this.mockMode,
        };
      }
      const skipped = chain.slice(budget);
      const tried = attempts.map((a) => `${a.action} (${a.error ?? 'failed'})`).join('; ');
      return {
        recovered: false,
        message:
          `Could not recover from ${failureType}: ${tried}` +
          (skipped.length > 0
            ? `; stopped after ${budget} attempts (maxRecoveryAttempts), not tried: ${skipped.join(', ')}`
            : ''),
        failureType,
        attempts,
        mockMode: this.mockMode,
      };
    } finally {
      this.inProgress.delete(key);
      this.cooldowns.set(key, { failureType, scope, until: this.clock.now() + this.policy.cooldownSeconds * 1000 });
    }
  }

  private async attempt(
    action: RecoveryAction,
    run: RunState,
  ): Promise<{ attempt: RecoveryAttempt; outcome: ActionOutcome | null }> {
    const startedAt = this.clock.now();
    let outcome: ActionOutcome | null = null;
    let error: string | null = null;
    let errorKind: AttemptErrorKind | null = null;
    try {
      outcome = await this.withTimeout(action, (signal) => this.perform(action, run, signal));
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
      errorKind = isRecoveryActionError(failure) ? failure.kind : 'rejected';
    }
    const endedAt = this.clock.now();
    const attempt: RecoveryAttempt = {
      failureType: run.failureType,
      action,
      startedAt,
      endedAt,
      success: outcome !== null,
      error,
      errorKind,
      durationMs: endedAt - startedAt,
      context: run.attemptContext,
    };
    this.count(attempt);
    if (outcome && DEGRADING_ACTIONS[action]) {
      this.degradedReasons.set(`${action}:${run.target?.id ?? ''}`, `${DEGRADING_ACTIONS[action]} on ${run.target?.id ?? 'the backend'}`);
    }
    this.attemptEmitter.emit(attempt);
    return { attempt, outcome };
  }

  /** Runs `work` with an abort signal; after the action's timeout on the clock the signal aborts and the attempt fails. */
  private withTimeout<T>(action: RecoveryAction, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const timeoutMs = actionTimeoutMs(this.policy, action);
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        const timeout = new RecoveryActionError('timed_out', action, `timed out after ${timeoutMs / 1000} s`);
        controller.abort(timeout);
        reject(timeout);
      }, timeoutMs);
      const settle = (): void => this.clock.clearTimeout(timer);
      (async () => work(controller.signal))().then(
        (value) => {
          settle();
          resolve(value);
        },
        (failure: unknown) => {
          settle();
          reject(failure instanceof Error ? failure : new Error(String(failure)));
        },
      );
    });
  }

  private async perform(action: RecoveryAction, run: RunState, signal: AbortSignal): Promise<ActionOutcome> {
    switch (action) {
      case 'clear_gpu_cache': {
        const target = requireTarget(action, run);
        if (!target.unloadModels && !target.freeGpuMemory) throw notSupported(action, target);
        if (target.unloadModels) await target.unloadModels(signal);
        if (target.freeGpuMemory) await target.freeGpuMemory(signal);
        return {};
      }
      case 'apply_vram_optimization': {
        const target = requireTarget(action, run);
        if (!target.applyVramOptimization) throw notSupported(action, target);
        await target.applyVramOptimization(signal);
        return {};
      }
      case 'enable_cpu_offload': {
        const target = requireTarget(action, run);
        if (!target.setOffloadMode) throw notSupported(action, target);
        await target.setOffloadMode(this.policy.cpuOffloadMode, signal);
        return {};
      }
      case 'restart_pipeline': {
        const target = requireTarget(action, run);
        if (!target.restartPipeline) throw notSupported(action, target);
        await target.restartPipeline(signal);
        return {};
      }
      case 'retry_model_download':
        await this.downloadWithRetry(run, signal);
        return {};
      case 'reduce_generation_params':
        return { reduction: await this.reduce(run) };
      case 'system_health_check':
        await this.checkSystemHealth(run, signal);
        return {};
      case 'fallback_to_mock':
        this.enterMockMode(`${run.failureType}: ${run.attemptContext.failureMessage}`);
        return {};
    }
  }

  /**
   * Downloads with up to `downloadRetry.attempts` tries, waiting with exponential backoff and jitter on the clock
   * between them. Stops early when the error is classified as not retryable (e.g. disk full, 404).
   */
  private async downloadWithRetry(run: RunState, signal: AbortSignal): Promise<void> {
    const action = 'retry_model_download';
    const target = requireTarget(action, run);
    const modelId = run.context.modelId;
    const downloads = this.downloads;
    if (downloads ? modelId !== undefined && !downloads.canDownload(modelId) : !target.ensureModelDownloaded) throw notSupported(action, target);
    if (modelId === undefined) throw new RecoveryActionError('unavailable', action, 'no model named in the failure context');
    const download = downloads ? (): Promise<void> => downloads.download(modelId, signal) : (): Promise<void> => target.ensureModelDownloaded!(modelId, signal);
    const retry = this.policy.downloadRetry;
    for (let tryNumber = 1; ; tryNumber++) {
      try {
        await download();
        return;
      } catch (failure) {
        if (signal.aborted) throw failure;
        const classification = this.classify(failure);
        if (!classification.retryable || tryNumber >= retry.attempts) {
          const why = classification.retryable ? `after ${tryNumber} tries` : `not retryable (${classification.failureType})`;
          throw new RecoveryActionError('unsuccessful', action, `download of ${modelId} failed ${why}: ${classification.message}`);
        }
        const delayMs = downloadRetryDelayMs(retry, tryNumber, this.random);
        this.downloadRetryEmitter.emit({ targetId: target.id, modelId, failedTry: tryNumber, delayMs, error: classification.message });
        await sleep(this.clock, delayMs, signal);
      }
    }
  }

  private async reduce(run: RunState): Promise<GenerationReduction> {
    const action = 'reduce_generation_params';
    if (!this.reduceGenerationParams) {
      throw new RecoveryActionError('unavailable', action, 'no reduction ladder was given to the recovery system');
    }
    const reduction = await this.reduceGenerationParams(run.context);
    if (!reduction || reduction.adjustments.length === 0) {
      throw new RecoveryActionError('unsuccessful', action, 'the generation settings cannot be reduced any further');
    }
    return reduction;
  }

  /** Succeeds when the machine is not critical and the target (if it can tell) says it is healthy. */
  private async checkSystemHealth(run: RunState, signal: AbortSignal): Promise<void> {
    const problems: string[] = [];
    const status = await this.monitor.check();
    if (status.overall === 'critical') problems.push(`machine health is critical (${status.issues.join('; ')})`);
    if (run.target?.checkHealth) {
      const health = await run.target.checkHealth(signal);
      if (!health.healthy) problems.push(`${run.target.id} is unhealthy${health.reason ? ` (${health.reason})` : ''}`);
    }
    if (problems.length > 0) throw new RecoveryActionError('unsuccessful', 'system_health_check', problems.join('; '));
  }

  private enterMockMode(reason: string): void {
    this.degradedReasons.set('mock', 'preview (mock) mode active');
    if (this.mockMode) return;
    this.mockMode = true;
    this.mockModeEmitter.emit({ active: true, reason, at: this.clock.now() });
    this.systemStatusEmitter.emit(this.systemStatus([]));
  }

  private async reactToHealth(status: SystemHealthStatus): Promise<void> {
    const triggered: TriggeredRecovery[] = [];
    const issues = status.issues.join('; ');
    if (status.findings.some((f) => f.resource === 'vram')) {
      triggered.push(await this.recoverFromHealth('vram_exhaustion', issues));
    }
    if (status.findings.some((f) => f.level === 'critical' && f.resource !== 'vram')) {
      triggered.push(await this.recoverFromHealth('system_resource_error', issues));
    }
    this.systemStatusEmitter.emit(this.systemStatus(triggered));
  }

  private async recoverFromHealth(failureType: FailureType, issues: string): Promise<TriggeredRecovery> {
    const result = await this.recover(failureType, `health check: ${issues}`, {}, {}, 'health_monitor');
    return { failureType, recovered: result.recovered, message: result.message };
  }

  private systemStatus(triggered: readonly TriggeredRecovery[]): SystemStatus {
    const reasons = this.currentDegradedReasons();
    return {
      at: this.clock.now(),
      health: this.monitor.latest?.overall ?? null,
      mockModeActive: this.mockMode,
      degradedMode: reasons.length > 0,
      degradedReasons: reasons,
      openBreakers: this.getBreakerStates().filter((b) => b.state === 'open'),
      triggered,
    };
  }

  private currentDegradedReasons(): string[] {
    const reasons = [...this.degradedReasons.values()];
    const health = this.monitor.latest;
    if (health && health.overall !== 'healthy') reasons.push(`health ${health.overall}: ${health.issues.join('; ')}`);
    return reasons;
  }

  private recordTargetFailure(failureType: FailureType, scope: RecoveryScope): void {
    if (scope.backendId === undefined) return;
    const breakerScope =
      MODEL_FAILURES.has(failureType) && scope.modelId !== undefined
        ? { backendId: scope.backendId, modelId: scope.modelId }
        : { backendId: scope.backendId };
    this.breakerFor(breakerScope).recordFailure();
  }

  private breakerFor(scope: RecoveryScope): ClockCircuitBreaker {
    const key = breakerKey(scope);
    const existing = this.breakers.get(key);
    if (existing) return existing.breaker;
    const breaker = new ClockCircuitBreaker(this.clock, this.policy.breaker);
    breaker.onStateChange((transition) =>
      this.breakerEmitter.emit({
        ...transition,
        backendId: scope.backendId ?? '',
        ...(scope.modelId !== undefined && { modelId: scope.modelId }),
      }),
    );
    this.breakers.set(key, { scope, breaker });
    return breaker;
  }

  private forgetExpiredCooldowns(): void {
    for (const [key, entry] of this.cooldowns) if (entry.until <= this.clock.now()) this.cooldowns.delete(key);
  }

  private runningFor(failureType: FailureType, scope: RecoveryScope): boolean {
    return [...this.inProgress.values()].some((entry) => overlaps(entry, failureType, scope));
  }

  private count(attempt: RecoveryAttempt): void {
    const c = this.counters;
    c.totalAttempts++;
    c.attemptsByFailureType[attempt.failureType]++;
    c.attemptsByAction[attempt.action]++;
    if (!attempt.success) return;
    c.successfulAttempts++;
    c.successfulDurationMs += attempt.durationMs;
    c.successesByFailureType[attempt.failureType]++;
    c.successesByAction[attempt.action]++;
  }
}

/** The scope of a failure: its backend (named, or the target's id) and model. */
function scopeOf(context: RecoveryContext, defaultTarget: RecoveryTarget | undefined): RecoveryScope {
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

function breakerKey(scope: RecoveryScope): string {
  return JSON.stringify([scope.backendId ?? null, scope.modelId ?? null]);
}

function requireTarget(action: RecoveryAction, run: RunState): RecoveryTarget {
  if (!run.target) throw new RecoveryActionError('unavailable', action, 'no recovery target (backend) to act on');
  return run.target;
}

function notSupported(action: RecoveryAction, target: RecoveryTarget): RecoveryActionError {
  return new RecoveryActionError('not_supported', action, `not supported by ${target.id}`);
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

function emptyCounters(): Counters {
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
