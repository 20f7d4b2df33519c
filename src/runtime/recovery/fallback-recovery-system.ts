/**
 * The fallback and recovery system: given a failure, runs the recovery chain for its type against the backend,
 * without thrashing (cooldowns per failure type and per backend/model scope, an attempt budget, per-action timeouts,
 * circuit breakers), watches the machine's health and reports statistics. All time comes from the injected Clock;
 * the circuit breakers are our own ClockCircuitBreaker, because cockatiel's breaker reads Date.now(). The parts live
 * beside it: records (recovery-records), cooldowns (scoped-cooldowns), breakers (breaker-registry), the actions with
 * their timeouts and download retry (recovery-actions), the chain walk (recovery-chain),
 * counters (recovery-counters), preview and degraded mode (system-mode), what stands unrepaired (pipeline-functions),
 * and the health monitor.
 */
import { EventEmitter, type Event } from 'cockatiel';
import type { Clock } from '../../core/clock.js';
import { classifyFailure, toClassificationRules, type ClassificationRule, type FailureClassification } from '../../core/failure-classification.js';
import type { SystemHealthStatus } from '../../core/health-assessment.js';
import { parseRecoveryConfig, type RecoveryConfig, type RecoveryPolicy } from '../../core/recovery-policy.js';
import { ValidationError } from '../../core/validation.js';
import { FAILURE_TYPES, type FailureType } from '../../core/vocabulary.js';
import { BreakerRegistry } from './breaker-registry.js';
import type { BreakerState } from './clock-circuit-breaker.js';
import { HealthMonitor, type HealthProbe, type VramReporter } from './health-monitor.js';
import { PipelineFunctions } from './pipeline-functions.js';
import { RecoveryActions, type RunState } from './recovery-actions.js';
import { RecoveryChain } from './recovery-chain.js';
import { RecoveryCounters } from './recovery-counters.js';
import {
  type BreakerSnapshot,
  type BreakerStateChange,
  type DownloadRetry,
  type MockModeChange,
  type RecoveryAttempt,
  type RecoveryContext,
  type RecoveryDownloads,
  type RecoveryResult,
  type RecoveryScope,
  type RecoveryStatistics,
  type RecoveryTrigger,
  type ReduceGenerationParams,
  type SystemStatus,
  type TriggeredRecovery,
} from './recovery-records.js';
import type { RecoveryTarget } from './recovery-target.js';
import { ScopedCooldowns, scopeOf } from './scoped-cooldowns.js';
import { SystemMode } from './system-mode.js';

export * from './recovery-records.js';

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

/** Runs recovery chains against backends, with cooldowns, breakers, health monitoring and statistics. */
export class FallbackRecoverySystem {
  /** The validated policy in force. */
  readonly policy: RecoveryPolicy;

  private readonly attemptEmitter = new EventEmitter<RecoveryAttempt>();
  private readonly downloadRetryEmitter = new EventEmitter<DownloadRetry>();

  /** Every recovery action tried, as it ends. */
  readonly onRecoveryAttempt: Event<RecoveryAttempt> = this.attemptEmitter.addListener;
  /** A backend's or model's circuit breaker changed state. */
  readonly onBreakerStateChange: Event<BreakerStateChange>;
  /** Preview (mock) mode was entered or left. */
  readonly onMockModeChange: Event<MockModeChange>;
  /** A model download failed and will be tried again after a delay. */
  readonly onDownloadRetry: Event<DownloadRetry> = this.downloadRetryEmitter.addListener;
  /** Every health check's result. */
  readonly onHealthStatus: Event<SystemHealthStatus>;
  /** The system's state after each health check and each change of mode. */
  readonly onSystemStatus: Event<SystemStatus>;

  private readonly clock: Clock;
  private readonly monitor: HealthMonitor;
  private readonly classificationRules: readonly ClassificationRule[];
  private readonly defaultTarget: RecoveryTarget | undefined;
  private readonly chain: RecoveryChain;
  private readonly cooldowns: ScopedCooldowns;
  private readonly breakers: BreakerRegistry;
  private readonly mode: SystemMode;
  private readonly counters = new RecoveryCounters();
  private readonly functions = new PipelineFunctions();

  constructor(options: FallbackRecoverySystemOptions) {
    this.clock = options.clock;
    this.policy = parseRecoveryConfig(options.config ?? {});
    this.classificationRules = toClassificationRules(this.policy.classificationRules);
    this.defaultTarget = options.target;
    this.monitor = new HealthMonitor({
      clock: options.clock,
      probe: options.probe,
      thresholds: this.policy.health,
      pipelineProblems: () => this.functions.problems(),
      ...(options.vramReporter && { vramReporter: options.vramReporter }),
    });
    this.onHealthStatus = this.monitor.onHealthStatus;
    this.cooldowns = new ScopedCooldowns(options.clock, this.policy.cooldownSeconds);
    this.breakers = new BreakerRegistry(options.clock, this.policy.breaker);
    this.onBreakerStateChange = this.breakers.onStateChange;
    this.mode = new SystemMode(options.clock, this.monitor, () => this.breakers.snapshots());
    this.onMockModeChange = this.mode.onMockModeChange;
    this.onSystemStatus = this.mode.onSystemStatus;
    const actions = new RecoveryActions({
      clock: options.clock,
      policy: this.policy,
      monitor: this.monitor,
      classify: (error) => this.classify(error),
      random: options.random ?? Math.random,
      reduceGenerationParams: options.reduceGenerationParams,
      downloads: options.downloads,
      enterMockMode: (reason) => this.mode.enterMockMode(reason),
      onDownloadRetry: (retry) => this.downloadRetryEmitter.emit(retry),
    });
    this.chain = new RecoveryChain({
      clock: options.clock,
      policy: this.policy,
      actions,
      counters: this.counters,
      mockModeActive: () => this.mode.mockModeActive,
      onAttempt: (attempt, run) => this.recordAttempt(attempt, run),
    });
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
    this.breakers.recordFailure(failureType, scope);
    return this.recover(failureType, error, context, scope, 'failure');
  }

  /**
   * Whether recovery of `failureType` is cooling down or running in a scope overlapping `scope` (see
   * {@link RecoveryScope}); without a scope, anywhere.
   */
  isInCooldown(failureType: FailureType, scope: RecoveryScope = {}): boolean {
    return this.cooldowns.isRunning(failureType, scope) || this.getCooldownRemaining(failureType, scope) > 0;
  }

  /**
   * Seconds until `failureType` may be recovered again in `scope`: the longest cooldown among overlapping scopes
   * (see {@link RecoveryScope}). A recovery still running counts as the full cooldown, which starts when it ends.
   */
  getCooldownRemaining(failureType: FailureType, scope: RecoveryScope = {}): number {
    return this.cooldowns.remainingSeconds(failureType, scope);
  }

  /** Whether a backend (and, when given, a model on it) is in rotation: its breakers are closed or half-open. */
  isAvailable(backendId: string, modelId?: string): boolean {
    return this.breakers.isAvailable(backendId, modelId);
  }

  /** State of the backend's breaker, or of the model's breaker on that backend when `modelId` is given. */
  getBreakerState(backendId: string, modelId?: string): BreakerState {
    return this.breakers.state(backendId, modelId);
  }

  /** Every breaker that has seen a failure. */
  getBreakerStates(): BreakerSnapshot[] {
    return this.breakers.snapshots();
  }

  /** Reports that work on a backend (and model) succeeded: resets failure counts and closes half-open breakers. */
  recordSuccess(backendId: string, modelId?: string): void {
    this.breakers.recordSuccess(backendId, modelId);
    this.functions.noteSuccess(backendId);
  }

  /** Checks the machine now (also announced as `health_status`). */
  getSystemHealthStatus(): Promise<SystemHealthStatus> {
    return this.monitor.check();
  }

  /** The last health check's result, null before the first; reads nothing. */
  get latestHealthStatus(): SystemHealthStatus | null {
    return this.monitor.latest;
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
    return this.mode.mockModeActive;
  }

  /** Leaves preview mode, e.g. once a real backend works again. */
  exitMockMode(reason: string): void {
    this.mode.exitMockMode(reason);
  }

  /** Counts and times of recovery since construction or the last reset. */
  getRecoveryStatistics(): RecoveryStatistics {
    return this.counters.statistics(this.mode.mockModeActive, this.mode.degradedReasons());
  }

  /**
   * Starts over: clears cooldowns, circuit breakers, preview mode, degraded reasons and statistics. Recoveries still
   * running finish and set their cooldowns as usual.
   */
  resetRecoveryState(): void {
    this.cooldowns.clear();
    this.breakers.reset();
    this.counters.reset();
    this.functions.reset();
    this.mode.reset('recovery state reset');
  }

  private async recover(
    failureType: FailureType,
    error: unknown,
    context: RecoveryContext,
    scope: RecoveryScope,
    trigger: RecoveryTrigger,
  ): Promise<RecoveryResult> {
    const startedAt = this.clock.now();
    this.counters.countFailure();
    this.cooldowns.forgetExpired();
    const busy = this.cooldowns.isRunning(failureType, scope);
    const remaining = this.getCooldownRemaining(failureType, scope);
    if (busy || remaining > 0) {
      this.counters.countSkipped();
      return this.noted(failureType, scope, {
        recovered: false,
        message: busy
          ? `Recovery from ${failureType} is already running here; it will not be started twice`
          : `Recovery from ${failureType} is cooling down: ${Math.ceil(remaining)} s remain`,
        failureType,
        attempts: [],
        mockMode: this.mode.mockModeActive,
        cooldownRemainingSeconds: remaining,
      });
    }

    const finish = this.cooldowns.begin(failureType, scope);
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
      return this.noted(failureType, scope, await this.chain.run(run, startedAt));
    } finally {
      finish();
    }
  }

  /** Keeps what a recovery left broken (for the health check's functional flags), and passes its result on. */
  private noted(failureType: FailureType, scope: RecoveryScope, result: RecoveryResult): RecoveryResult {
    this.functions.noteRecovery(failureType, scope, result);
    return result;
  }

  /** Announces an attempt; a successful degrading repair is kept as a reason the system runs degraded. */
  private recordAttempt(attempt: RecoveryAttempt, run: RunState): void {
    this.mode.noteAttempt(attempt, run.target?.id);
    this.attemptEmitter.emit(attempt);
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
    this.mode.announce(triggered);
  }

  private async recoverFromHealth(failureType: FailureType, issues: string): Promise<TriggeredRecovery> {
    const result = await this.recover(failureType, `health check: ${issues}`, {}, {}, 'health_monitor');
    return { failureType, recovered: result.recovered, message: result.message };
  }
}
