import { rm } from 'node:fs/promises';
import { catalogGenerationSeconds, formatBytes } from '../core/estimates.js';
import type { Catalog } from '../core/catalog.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { FallbackStrategy } from '../core/planning.js';
import type { FailureType } from '../core/vocabulary.js';
import type { ArtifactPaths } from './artifact-paths.js';
import type { Backend, BackendSettings } from './backend.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { FallbackRecoverySystem, RecoveryResult } from './recovery/fallback-recovery-system.js';
import type { IntelligentFallbackManager } from './intelligent-fallback-manager.js';
import type { Job, JobError, Replan } from './job.js';
import { isLeaseLostError, type JobStore } from './job-store.js';
import type { ModelDownloads } from './model-downloads.js';
import { modelToRun, planWaits } from './plan-effects.js';
import { StallWatchdog } from './stall-watchdog.js';

/** What a runner needs from the engine: a narrow view, so it can be tested and reasoned about alone. */
export interface JobRunnerContext {
  store: JobStore;
  clock: Clock;
  catalog: Catalog;
  manager: IntelligentFallbackManager;
  recovery: FallbackRecoverySystem;
  /** Where inputs are read from and outputs written; records hold paths relative to its root. */
  artifacts: ArtifactPaths;
  /** How long a claim lasts; it is renewed every third of this. */
  leaseMs: number;
  emit: (event: UnderstudyEvent) => void;
  /** Downloads the model a re-plan waits for. */
  downloads: ModelDownloads;
  /** A generation with no progress for this long is presumed hung and fails as a pipeline error, ms (default 300 000). */
  stallMs?: number;
}

const DEFAULT_STALL_MS = 300_000;

/** Progress is written to the store at most this often per job, milliseconds; events go out every time. */
const PROGRESS_WRITE_INTERVAL_MS = 500;

/** The abort reason of a generation stopped by {@link JobRunner.abort}: the job was cancelled, maybe elsewhere. */
class CancelRequest extends Error {
  override readonly name = 'AbortError';
}

/**
 * Runs one claimed job on one backend: generation with progress and lease renewal; on success the output and the
 * learned duration; on failure classification, the recovery chain, and a re-plan within the attempt budget. Every
 * step goes on the job's timeline.
 */
export class JobRunner {
  /** The abort controller of each job running here, by job id. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly ctx: JobRunnerContext) {}

  /**
   * Stops the generation of `jobId` at once if it runs here (a cancel signal from another process); the job then
   * ends cancelled, with `reason`. Returns whether it ran here.
   */
  abort(jobId: string, reason: string): boolean {
    const controller = this.running.get(jobId);
    if (!controller) return false;
    controller.abort(new CancelRequest(reason));
    return true;
  }

  /** Runs `job` (already claimed by `owner`); resolves when the job has left the running state. `stop` aborts it. */
  async run(job: Job, backend: Backend, owner: string, stop: AbortSignal): Promise<void> {
    const { ctx } = this;
    const controller = new AbortController();
    const onStop = (): void => controller.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    this.running.set(job.id, controller);
    const stopRenewing = this.keepLease(job.id, owner, controller);
    const started = ctx.clock.now();
    ctx.emit({ type: 'job.started', at: started, jobId: job.id, status: 'running', model: job.modelUsed, message: `running on ${job.modelUsed} (${backend.id}), attempt ${job.attempts} of ${job.maxAttempts}` });
    const settings = this.settingsOf(job);
    const watchdog = new StallWatchdog(ctx.clock, ctx.stallMs ?? DEFAULT_STALL_MS);
    let lastWrite = 0;
    try {
      const output = await backend.generate(
        {
          jobId: job.id,
          attempt: job.attempts,
          modelId: job.modelUsed,
          prompt: job.request.prompt,
          ...(job.request.negativePrompt !== undefined ? { negativePrompt: job.request.negativePrompt } : {}),
          ...(job.request.image?.path ? { image: { path: ctx.artifacts.toLocal(job.request.image.path) } } : {}),
          settings,
          outputDir: ctx.artifacts.outputDir,
        },
        {
          signal: AbortSignal.any([controller.signal, watchdog.signal]),
          onProgress: (fraction, message) => {
            watchdog.kick();
            const now = ctx.clock.now();
            ctx.emit({ type: 'job.progress', at: now, jobId: job.id, progress: fraction, message });
            if (now - lastWrite >= PROGRESS_WRITE_INTERVAL_MS || fraction >= 1) {
              lastWrite = now;
              ctx.store.updateProgress(job.id, owner, fraction, message).catch(() => controller.abort(new Error('lease lost')));
            }
          },
        },
      );
      const done = await ctx.store.complete(job.id, owner, { ...output, path: ctx.artifacts.toStored(output.path) }).catch(async (error: unknown) => {
        // Refused (cancelled meanwhile, or taken over after a lapsed lease): the file is no job's output.
        if (isLeaseLostError(error)) await rm(output.path, { force: true });
        throw error;
      });
      // What the generation took, without a model load (learned separately, per backend): the forecast adds loads itself.
      const seconds = ((output.durationMs ?? ctx.clock.now() - started) - (output.loadMs ?? 0)) / 1000;
      const model = ctx.catalog.byId.get(job.modelUsed);
      if (model && !output.isPreview) ctx.manager.learner.recordGeneration(model.id, settings.resolution, seconds, catalogGenerationSeconds(model, settings, ctx.manager.config.estimation));
      ctx.recovery.recordSuccess(backend.id, job.modelUsed);
      if (!output.isPreview) ctx.recovery.exitMockMode(`${job.modelUsed} generated a real video on ${backend.id}`);
      ctx.emit({ type: 'job.succeeded', at: ctx.clock.now(), jobId: job.id, status: done.status, model: job.modelUsed, message: `${output.isPreview ? 'preview' : 'video'} written (${output.mediaType}, ${formatBytes(output.sizeBytes)})` });
    } catch (error) {
      if (isLeaseLostError(error)) return; // cancelled or taken over meanwhile: the job is no longer ours to report on
      if (controller.signal.aborted) await this.afterAbort(job, owner, stop, controller.signal.reason);
      else await this.afterFailure(job, backend, owner, watchdog.signal.aborted ? watchdog.signal.reason : error, settings);
    } finally {
      this.running.delete(job.id);
      watchdog.stop();
      stopRenewing();
      stop.removeEventListener('abort', onStop);
    }
  }

  /** Renews the lease every third of its length on the engine clock; a lost lease (cancel, lapse) aborts the generation. */
  private keepLease(jobId: string, owner: string, controller: AbortController): () => void {
    const { ctx } = this;
    let timer: TimerHandle | undefined;
    const schedule = (): void => {
      timer = ctx.clock.setTimeout(() => {
        ctx.store.renewLease(jobId, owner, ctx.clock.now(), ctx.leaseMs).then(
          () => {
            if (!controller.signal.aborted) schedule();
          },
          (error: unknown) => {
            if (isLeaseLostError(error)) controller.abort(error);
            else schedule();
          },
        );
      }, ctx.leaseMs / 3);
    };
    schedule();
    return () => {
      if (timer) ctx.clock.clearTimeout(timer);
      controller.abort(new Error('job finished'));
    };
  }

  private async afterAbort(job: Job, owner: string, stop: AbortSignal, reason: unknown): Promise<void> {
    let current = await this.ctx.store.get(job.id);
    // A cancel signal can outrun the cancel's write (or be sent alone): the job is cancelled either way.
    if (reason instanceof CancelRequest && current?.status === 'running') current = await this.ctx.store.cancel(job.id, reason.message);
    if (current?.status === 'cancelled') {
      this.ctx.emit({ type: 'job.cancelled', at: this.ctx.clock.now(), jobId: job.id, status: 'cancelled', model: job.modelUsed, message: 'cancelled while running' });
      return;
    }
    if (stop.aborted && current?.status === 'running') {
      // Shutting down: give the job back without counting the attempt, so a restart runs it again.
      await this.ctx.store.setWaitingForModel(job.id, { modelId: job.modelUsed, owner, message: 'the engine shut down while the job ran; it resumes on restart' });
      await this.ctx.store.releaseWaiting(job.modelUsed);
    }
  }

  private async afterFailure(job: Job, backend: Backend, owner: string, cause: unknown, settings: BackendSettings): Promise<void> {
    const { ctx } = this;
    const classification = ctx.recovery.classify(cause);
    const failureType = classification.failureType;
    const recovery = await ctx.recovery.handleFailure(failureType, cause, {
      target: backend,
      backendId: backend.id,
      modelId: job.modelUsed,
      jobId: job.id,
      generation: settings,
    });
    for (const attempt of recovery.attempts) {
      await ctx.store.appendTimeline(job.id, {
        kind: 'recovery_attempt',
        at: attempt.endedAt,
        message: `${attempt.action} ${attempt.success ? 'succeeded' : `failed: ${attempt.errorMessage}`}`,
        data: { action: attempt.action, success: attempt.success, recoveryTimeSeconds: attempt.recoveryTimeSeconds },
      });
    }
    if (recovery.cooldownRemainingSeconds !== undefined) {
      await ctx.store.appendTimeline(job.id, { kind: 'recovery_attempt', message: recovery.message });
    }
    const replan = await this.replan(job, failureType, classification.message, recovery);
    const error: JobError = { failureType, message: `${failureType}: ${classification.message}`, evidence: { ...classification.evidence, retryable: classification.retryable } };
    const failed = await ctx.store.fail(job.id, owner, error, replan ? { retry: true, replan } : { retry: false });
    if (failed.status === 'failed') {
      ctx.emit({ type: 'job.failed', at: ctx.clock.now(), jobId: job.id, status: 'failed', model: job.modelUsed, message: failed.error?.message ?? classification.message });
      return;
    }
    const plan = replan?.plan;
    ctx.emit({ type: 'job.replanned', at: ctx.clock.now(), jobId: job.id, strategy: plan?.strategyType ?? job.plan.strategyType, model: replan?.modelUsed ?? job.modelUsed, message: plan?.userMessage ?? 'retrying' });
    if (plan && planWaits(plan)) {
      await ctx.store.setWaitingForModel(job.id, { modelId: plan.model, message: plan.userMessage });
      if (plan.strategyType === 'download_and_retry') ctx.downloads.request(plan.model);
      ctx.emit({ type: 'job.waiting', at: ctx.clock.now(), jobId: job.id, status: 'waiting_for_model', model: plan.model, message: plan.userMessage });
    } else {
      ctx.emit({ type: 'job.requeued', at: ctx.clock.now(), jobId: job.id, status: 'queued', model: replan?.modelUsed ?? job.modelUsed, message: 'queued for the next attempt' });
    }
  }

  /** The plan for the next attempt, or undefined when nothing may run (the job then fails). */
  private async replan(job: Job, failureType: FailureType, message: string, recovery: RecoveryResult): Promise<Replan | undefined> {
    const requirements = job.request.requirements;
    if (recovery.recovered && recovery.reducedSettings) {
      const reduced = { ...requirements, ...recovery.reducedSettings };
      const adjustments = [...(recovery.adjustments ?? [])];
      const changes = adjustments.map((a) => `${a.field} ${a.from} → ${a.to}`).join(', ');
      const plan: FallbackStrategy = {
        ...job.plan,
        strategyType: 'reduce_requirements',
        requirements: reduced,
        requirementsAdjustments: adjustments,
        recommendedAction: `run ${job.modelUsed} with ${changes}`,
        userMessage: `${job.modelUsed} ran out of memory; retrying with reduced settings (${changes}).`,
        isPreview: false,
      };
      return { plan, modelUsed: job.modelUsed, requirements: reduced };
    }
    // A repair that "worked" but did not stop the same failure on this job is no reason to try the same plan again.
    const repeated = job.timeline.some((e) => e.kind === 'failed' && e.data?.failureType === failureType);
    if (recovery.recovered && recovery.action !== 'fallback_to_mock' && !repeated) {
      return { plan: job.plan, modelUsed: job.modelUsed, requirements };
    }
    const { modelType: _omit, ...rest } = requirements;
    const plan = await this.ctx.manager.getFallbackStrategy(job.requestedModel, {
      failureType,
      errorMessage: message,
      requirements: rest,
    });
    if (plan.strategyType === 'reject') return undefined;
    return { plan, modelUsed: modelToRun(plan), requirements: plan.requirements };
  }

  private settingsOf(job: Job): BackendSettings {
    const r = job.request.requirements;
    const settings: BackendSettings = { resolution: r.resolution, quality: r.quality };
    if (r.numFrames !== undefined) settings.numFrames = r.numFrames;
    if (r.steps !== undefined) settings.steps = r.steps;
    if (job.request.seed !== undefined) settings.seed = job.request.seed;
    return settings;
  }
}
