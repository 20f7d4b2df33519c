import { sleep, type Clock } from '../../core/clock.js';
import type { FailureClassification } from '../../core/failure-classification.js';
import { actionTimeoutMs, downloadRetryDelayMs, type RecoveryPolicy } from '../../core/recovery-policy.js';
import type { FailureType, RecoveryAction } from '../../core/vocabulary.js';
import type { HealthMonitor } from './health-monitor.js';
import {
  RecoveryActionError,
  type AttemptContext,
  type DownloadRetry,
  type GenerationReduction,
  type ReduceGenerationParams,
  type RecoveryContext,
  type RecoveryDownloads,
} from './recovery-records.js';
import type { RecoveryTarget } from './recovery-target.js';

/** One recovery in progress: the failure, its context, and the target acted on. */
export interface RunState {
  readonly failureType: FailureType;
  readonly context: RecoveryContext;
  readonly target: RecoveryTarget | undefined;
  readonly attemptContext: AttemptContext;
}

/** What a successful action produced (reduce_generation_params: the smaller settings). */
export interface ActionOutcome {
  readonly reduction?: GenerationReduction;
}

/** What the actions need from the recovery system. */
export interface RecoveryActionsOptions {
  readonly clock: Clock;
  readonly policy: RecoveryPolicy;
  readonly monitor: HealthMonitor;
  readonly classify: (error: unknown) => FailureClassification;
  readonly random: () => number;
  readonly reduceGenerationParams: ReduceGenerationParams | undefined;
  readonly downloads: RecoveryDownloads | undefined;
  /** fallback_to_mock: switch the system to preview mode, for this reason. */
  readonly enterMockMode: (reason: string) => void;
  /** A download try failed and another follows after a delay. */
  readonly onDownloadRetry: (retry: DownloadRetry) => void;
}

/** The eight recovery actions, each run within its timeout on the clock, against the run's target. */
export class RecoveryActions {
  constructor(private readonly options: RecoveryActionsOptions) {}

  /** Runs `action`; rejects with a RecoveryActionError (not supported, timed out, unavailable, unsuccessful) or the target's error. */
  run(action: RecoveryAction, run: RunState): Promise<ActionOutcome> {
    return this.withTimeout(action, (signal) => this.perform(action, run, signal));
  }

  /** Runs `work` with an abort signal; after the action's timeout on the clock the signal aborts and the attempt fails. */
  private withTimeout<T>(action: RecoveryAction, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { clock } = this.options;
    const timeoutMs = actionTimeoutMs(this.options.policy, action);
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        const timeout = new RecoveryActionError('timed_out', action, `timed out after ${timeoutMs / 1000} s`);
        controller.abort(timeout);
        reject(timeout);
      }, timeoutMs);
      const settle = (): void => clock.clearTimeout(timer);
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
        await target.setOffloadMode(this.options.policy.cpuOffloadMode, signal);
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
        this.options.enterMockMode(`${run.failureType}: ${run.attemptContext.failureMessage}`);
        return {};
    }
  }

  /**
   * Downloads with up to `downloadRetry.attempts` tries, waiting with exponential backoff and jitter on the clock
   * between them, through the engine's downloads when given, else the target's own. Stops early when the error is
   * classified as not retryable (e.g. disk full, 404).
   */
  private async downloadWithRetry(run: RunState, signal: AbortSignal): Promise<void> {
    const action = 'retry_model_download';
    const target = requireTarget(action, run);
    const modelId = run.context.modelId;
    const downloads = this.options.downloads;
    if (downloads ? modelId !== undefined && !downloads.canDownload(modelId) : !target.ensureModelDownloaded) throw notSupported(action, target);
    if (modelId === undefined) throw new RecoveryActionError('unavailable', action, 'no model named in the failure context');
    const download = downloads
      ? (): Promise<void> => downloads.download(modelId, signal)
      : (): Promise<void> => (target.ensureModelDownloaded as NonNullable<RecoveryTarget['ensureModelDownloaded']>).call(target, modelId, signal);
    const retry = this.options.policy.downloadRetry;
    for (let tryNumber = 1; ; tryNumber++) {
      try {
        await download();
        return;
      } catch (failure) {
        if (signal.aborted) throw failure;
        const classification = this.options.classify(failure);
        if (!classification.retryable || tryNumber >= retry.attempts) {
          const why = classification.retryable ? `after ${tryNumber} tries` : `not retryable (${classification.failureType})`;
          throw new RecoveryActionError('unsuccessful', action, `download of ${modelId} failed ${why}: ${classification.message}`);
        }
        const delayMs = downloadRetryDelayMs(retry, tryNumber, this.options.random);
        this.options.onDownloadRetry({ targetId: target.id, modelId, failedTry: tryNumber, delayMs, error: classification.message });
        await sleep(this.options.clock, delayMs, signal);
      }
    }
  }

  private async reduce(run: RunState): Promise<GenerationReduction> {
    const action = 'reduce_generation_params';
    if (!this.options.reduceGenerationParams) {
      throw new RecoveryActionError('unavailable', action, 'no reduction ladder was given to the recovery system');
    }
    const reduction = await this.options.reduceGenerationParams(run.context);
    if (!reduction || reduction.adjustments.length === 0) {
      throw new RecoveryActionError('unsuccessful', action, 'the generation settings cannot be reduced any further');
    }
    return reduction;
  }

  /** Succeeds when the machine is not critical and the target (if it can tell) says it is healthy. */
  private async checkSystemHealth(run: RunState, signal: AbortSignal): Promise<void> {
    const problems: string[] = [];
    const status = await this.options.monitor.check();
    if (status.overallStatus === 'critical') problems.push(`machine health is critical (${status.issues.join('; ')})`);
    if (run.target?.checkHealth) {
      const health = await run.target.checkHealth(signal);
      if (!health.healthy) problems.push(`${run.target.id} is unhealthy${health.reason ? ` (${health.reason})` : ''}`);
    }
    if (problems.length > 0) throw new RecoveryActionError('unsuccessful', 'system_health_check', problems.join('; '));
  }
}

function requireTarget(action: RecoveryAction, run: RunState): RecoveryTarget {
  if (!run.target) throw new RecoveryActionError('unavailable', action, 'no recovery target (backend) to act on');
  return run.target;
}

function notSupported(action: RecoveryAction, target: RecoveryTarget): RecoveryActionError {
  return new RecoveryActionError('not_supported', action, `not supported by ${target.id}`);
}
