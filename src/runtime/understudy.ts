import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventEmitter, Event } from 'cockatiel';
import { statusOf, type ModelStatus } from '../core/availability.js';
import type { ModelDescriptor } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import type { JobEstimate } from '../core/job-estimate.js';
import type { FallbackStrategy } from '../core/planning.js';
import type { GenerationRequirements } from '../core/requirements.js';
import { PREVIEW_MODEL_ID, inputMismatch, requireModel } from '../core/scoring.js';
import { ValidationError, parseOrThrow } from '../core/validation.js';
import type { Backend } from './backend.js';
import type { ModelFileStore, VerifiedModel } from './model-file-store.js';
import type { BackendAvailability } from './backend-availability.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { EstimateTracker } from './estimate-tracker.js';
import type { FallbackRecoverySystem } from './fallback-recovery-system.js';
import { DEFAULT_INPUT_LIMITS, decodeImageDataUrl, generationInputSchema, type GenerationInputDraft, type GenerationInputLimits } from './generation-input.js';
import type { IntelligentFallbackManager, QueueStatus } from './intelligent-fallback-manager.js';
import type { Job, JobState } from './job.js';
import { waitingForModelTotal, type JobStore } from './job-store.js';
import type { Scheduler } from './scheduler.js';

/** Thrown when a request's plan is `reject`: nothing the request allows can deliver. */
export class PlanRejectedError extends Error {
  override readonly name = 'PlanRejectedError';

  constructor(readonly strategy: FallbackStrategy) {
    super(strategy.userMessage);
  }
}

/** Type guard for {@link PlanRejectedError}. */
export function isPlanRejectedError(error: unknown): error is PlanRejectedError {
  return error instanceof PlanRejectedError;
}

/** What the engine is made of; {@link createUnderstudy} builds one on embedded defaults. */
export interface UnderstudyParts {
  clock: Clock;
  store: JobStore;
  manager: IntelligentFallbackManager;
  recovery: FallbackRecoverySystem;
  availability: BackendAvailability;
  backends: readonly Backend[];
  scheduler: Scheduler;
  events: EventEmitter<UnderstudyEvent>;
  /** Keeps every waiting and running job's estimate current. */
  estimates?: EstimateTracker;
  /** Where input images are kept. */
  inputDir: string;
  limits?: GenerationInputLimits;
  /** Starts the download of a model. */
  requestDownload: (modelId: string) => void;
  /** Downloads a model; resolves once it is available. */
  download: (modelId: string) => Promise<void>;
  /** The models directory, when Understudy manages model files itself. */
  files?: ModelFileStore;
  /** Runs when the engine closes (stops monitors, closes the store). */
  onClose?: () => Promise<void>;
}

/** The outcome of a submit: the stored job and its place in the queue (null when it waits for a model). */
export interface SubmitResult {
  job: Job;
  /** The alternative job of a hybrid plan, which runs first. */
  hybridJob?: Job;
  queuePosition: number | null;
  /** The job's first estimate (of the hybrid job's, when there is one). */
  estimate?: JobEstimate;
}

/**
 * The engine: accepts generation requests, plans them, stores them durably, schedules them on backends, recovers
 * and re-plans failures, and reports everything as events.
 */
export class Understudy {
  readonly manager: IntelligentFallbackManager;
  readonly recovery: FallbackRecoverySystem;
  readonly store: JobStore;
  readonly clock: Clock;
  /** Every engine event, typed; the WebSocket forwards them. */
  readonly onEvent: Event<UnderstudyEvent>;
  private readonly inputSchema: ReturnType<typeof generationInputSchema>;
  private closed = false;

  constructor(private readonly parts: UnderstudyParts) {
    this.manager = parts.manager;
    this.recovery = parts.recovery;
    this.store = parts.store;
    this.clock = parts.clock;
    this.onEvent = parts.events.addListener;
    this.inputSchema = generationInputSchema(parts.limits ?? DEFAULT_INPUT_LIMITS);
  }

  /**
   * Starts scheduling (and requeues what a previous process left running once its lease lapses), and resumes the
   * downloads that jobs accepted before a restart still wait for.
   */
  async start(): Promise<void> {
    await this.parts.scheduler.start();
    const [snapshot, availability] = await Promise.all([this.store.queueSnapshot(), this.parts.availability.snapshot()]);
    for (const [modelId, counts] of Object.entries(snapshot.byModel)) {
      const status = availability.get(modelId)?.status;
      if (waitingForModelTotal(counts) > 0 && status !== 'available' && this.manager.catalog.byId.has(modelId)) this.parts.requestDownload(modelId);
    }
  }

  /**
   * Validates, plans and durably stores a request; resolves after the write. Rejects with a ValidationError (bad
   * input), a QueueFullError, or a PlanRejectedError (nothing the request allows can deliver).
   */
  async submit(draft: GenerationInputDraft): Promise<SubmitResult> {
    if (this.closed) throw new Error('the engine is shutting down and accepts no new requests');
    const input = parseOrThrow(this.inputSchema, draft, 'request');
    const model = this.requireKnownModel(input.model);
    const requirements: GenerationRequirements = {
      modelType: input.model,
      quality: input.quality,
      speed: input.speed,
      resolution: input.resolution,
      hasImage: input.image !== undefined,
      hasText: input.prompt.length > 0,
      allowAlternatives: input.allowAlternatives,
      allowQualityReduction: input.allowQualityReduction,
      allowMock: input.allowMock,
      priority: input.priority,
      ...(input.numFrames !== undefined ? { numFrames: input.numFrames } : {}),
      ...(input.steps !== undefined ? { steps: input.steps } : {}),
      ...(input.maxWaitSeconds !== undefined ? { maxWaitSeconds: input.maxWaitSeconds } : {}),
    };
    const mismatch = inputMismatch(model, requirements);
    if (mismatch) {
      const field = mismatch.includes('image') ? 'image' : 'prompt';
      throw new ValidationError('request', [{ field, problem: mismatch }]);
    }
    const { modelType: _model, ...rest } = requirements;
    const plan = await this.manager.getFallbackStrategy(input.model, { requirements: rest });
    if (plan.strategyType === 'reject') throw new PlanRejectedError(plan);
    const image = input.image ? await this.saveImage(input.image) : undefined;
    const request = { prompt: input.prompt, requirements: plan.requirements, ...(image ? { image } : {}) };
    const waits = plan.strategyType === 'queue_and_wait' || plan.strategyType === 'download_and_retry';
    const modelUsed = plan.strategyType === 'mock_generation' ? PREVIEW_MODEL_ID : plan.model;

    let hybridJob: Job | undefined;
    if (plan.strategyType === 'hybrid_approach') {
      hybridJob = await this.store.enqueue({ request, plan, modelUsed });
      this.announce('job.accepted', hybridJob, plan.userMessage);
    }
    const job = await this.store.enqueue({
      request: hybridJob ? { ...request, requirements } : request,
      plan,
      modelUsed: hybridJob || waits ? input.model : modelUsed,
      ...(hybridJob || waits ? { initialState: 'waiting_for_model' as const, waitingFor: input.model } : {}),
      ...(hybridJob ? { hybridOf: hybridJob.id } : {}),
    });
    this.announce(job.status === 'waiting_for_model' ? 'job.waiting' : 'job.accepted', job, plan.userMessage);
    if (plan.strategyType === 'download_and_retry') this.parts.requestDownload(input.model);
    this.parts.scheduler.wake();
    const queuePosition = await this.store.queuePosition((hybridJob ?? job).id);
    if (hybridJob) await this.parts.estimates?.admit(job);
    const estimate = await this.parts.estimates?.admit(hybridJob ?? job);
    return { job, ...(hybridJob ? { hybridJob } : {}), queuePosition, ...(estimate ? { estimate } : {}) };
  }

  /** The job, or null. */
  get(id: string): Promise<Job | null> {
    return this.store.get(id);
  }

  /** A waiting or running job's current estimate (start and result times); undefined once it has ended. */
  estimateOf(id: string): JobEstimate | undefined {
    return this.parts.estimates?.estimateOf(id);
  }

  /** Jobs, oldest first, filtered by state, a page at a time. */
  list(options: { status?: JobState | readonly JobState[]; limit?: number; cursor?: string } = {}): Promise<{ jobs: Job[]; nextCursor: string | null }> {
    return this.store.list(options);
  }

  /** Cancels a job in any state that is not final; a running job stops promptly. */
  async cancel(id: string, reason = 'cancelled by the user'): Promise<Job> {
    const job = await this.store.cancel(id, reason);
    this.announce('job.cancelled', job, reason);
    return job;
  }

  /** Every catalog model with its availability. */
  async models(): Promise<Array<{ model: ModelDescriptor; status: ModelStatus }>> {
    const snapshot = await this.parts.availability.snapshot();
    return this.manager.catalog.models.map((model) => ({ model, status: statusOf(snapshot, model.id) }));
  }

  /** Downloads a model (resuming partial files) and releases the jobs waiting for it; resolves once it is available. */
  async downloadModel(modelId: string): Promise<void> {
    this.requireKnownModel(modelId);
    await this.parts.download(modelId);
  }

  /** Checks every file of a model by sha256; only for models whose files Understudy manages. */
  async verifyModel(modelId: string): Promise<VerifiedModel> {
    this.requireKnownModel(modelId);
    if (!this.parts.files) {
      throw new ValidationError('verify', [{ field: 'model', problem: 'model files are managed by the backend here; configure modelFiles to verify them', received: modelId }]);
    }
    return this.parts.files.verify(modelId);
  }

  /** Queue totals (queued and waiting jobs), by model and priority. */
  async queueStatus(): Promise<QueueStatus> {
    const snapshot = await this.store.queueSnapshot();
    const queueByModel: Record<string, number> = {};
    const queueByPriority: QueueStatus['queueByPriority'] = { critical: 0, high: 0, normal: 0, low: 0 };
    for (const [model, counts] of Object.entries(snapshot.byModel)) {
      queueByModel[model] = counts.total;
      for (const p of Object.keys(queueByPriority) as Array<keyof typeof queueByPriority>) {
        queueByPriority[p] += counts.queued[p] + counts.waitingForModel[p];
      }
    }
    const oldest = await this.store.oldestWaitingAcceptedAt();
    return {
      totalQueuedRequests: snapshot.total,
      queueByModel,
      queueByPriority,
      maxQueueSize: this.store.maxQueueSize,
      queueUtilization: (snapshot.total / this.store.maxQueueSize) * 100,
      oldestRequestAgeSeconds: oldest === null ? null : (this.clock.now() - oldest) / 1000,
    };
  }

  /** Resolves when every accepted job has finished (nothing running, queued or waiting). */
  onIdle(): Promise<void> {
    return this.parts.scheduler.onIdle();
  }

  /** Stops accepting, lets running jobs finish within `graceMs`, gives the rest back to the queue, closes the store. */
  async close(graceMs = 30_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.parts.scheduler.close(graceMs);
    await this.parts.onClose?.();
  }

  private requireKnownModel(modelId: string): ModelDescriptor {
    return requireModel(this.manager.catalog, modelId);
  }

  /** Stores an input image under its digest (the same image is kept once) and returns the reference. */
  private async saveImage(dataUrl: string): Promise<{ path: string; sha256: string }> {
    const { mediaType, bytes } = decodeImageDataUrl(dataUrl);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = join(this.parts.inputDir, `${sha256}.${mediaType.split('/')[1]}`);
    await mkdir(this.parts.inputDir, { recursive: true });
    await writeFile(path, bytes);
    return { path, sha256 };
  }

  private announce(type: 'job.accepted' | 'job.waiting' | 'job.cancelled', job: Job, message: string): void {
    this.parts.events.emit({ type, at: this.clock.now(), jobId: job.id, status: job.status, model: job.waitingFor ?? job.modelUsed, message });
  }
}

