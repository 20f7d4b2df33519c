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
import { inputMismatch, requireModel } from '../core/scoring.js';
import { ValidationError, parseOrThrow } from '../core/validation.js';
import type { ArtifactPaths } from './artifact-paths.js';
import type { Backend } from './backend.js';
import type { WorkerHeartbeat } from './cluster/worker-heartbeat.js';
import type { StoreStatus } from './store-status.js';
import type { ModelFileStore, VerifiedModel } from './model-file-store.js';
import type { BackendAvailability } from './backend-availability.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { EstimateTracker } from './estimate-tracker.js';
import type { EventLog } from './event-log.js';
import { followEventLog, type EventFollow, type FollowEventLogOptions } from './event-following.js';
import { LocalEventLog } from './local-event-log.js';
import type { FallbackRecoverySystem } from './recovery/fallback-recovery-system.js';
import { DEFAULT_INPUT_LIMITS, decodeImageDataUrl, generationInputSchema, type GenerationInputDraft, type GenerationInputLimits } from './generation-input.js';
import type { EstimateLearner } from '../core/learner.js';
import type { IntelligentFallbackManager } from './intelligent-fallback-manager.js';
import type { JobQueue } from './job-queue.js';
import type { ModelDownloads } from './model-downloads.js';
import { modelToRun, planWaits } from './plan-effects.js';
import type { QueueStatus, QueueTotals } from './queue-status.js';
import type { Job, JobOutput, JobRequest, JobState, NewJob } from './job.js';
import { waitingForModelTotal, type JobStore } from './job-store.js';
import type { Scheduler } from './scheduler.js';

/** The record of a live worker, as `workers()` answers it (checked when read back from a shared store). */
export { WorkerHeartbeatSchema } from './worker-heartbeat-schema.js';

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
  /** The events with resumable ids that the WebSocket shows (default: `events` in a LocalEventLog, the last 10 000). */
  eventLog?: EventLog;
  /** Keeps every waiting and running job's estimate current. */
  estimates?: EstimateTracker;
  /** Where input images and outputs are kept; records hold paths relative to its root. */
  artifacts: ArtifactPaths;
  limits?: GenerationInputLimits;
  /** Model downloads, and the release of the jobs waiting for them. */
  downloads: ModelDownloads;
  /** The queue's totals, counts and limits. */
  queue: JobQueue;
  /** The models directory, when Understudy manages model files itself. */
  files?: ModelFileStore;
  /** Keeps what the estimator learned for the next start; saved when the engine closes. */
  learnedEstimates?: { save(learner: EstimateLearner): Promise<void> };
  /** What the engine started and stops when it closes (e.g. ComfyUI backends it launched). */
  stopOnClose?: ReadonlyArray<{ stop(): Promise<void> }>;
  /** The job store's kind, reachability and durability now. */
  storeStatus?: () => Promise<StoreStatus>;
  /** The live workers and their backends (default none). */
  workers?: () => Promise<WorkerHeartbeat[]>;
  /** Tells every worker that a job was cancelled, so the one running it stops at once (default: nothing to tell). */
  signalCancel?: (jobId: string, reason: string) => Promise<void>;
  /** Tells every worker that a job of a model was queued, so an idle one claims it now (default: the one process's scheduler wakes). */
  signalWork?: (modelId: string) => Promise<void>;
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
  readonly clock: Clock;
  /** Every engine event, typed; the WebSocket forwards them. */
  readonly onEvent: Event<UnderstudyEvent>;
  private readonly store: JobStore;
  /** The events with resumable ids: this process's, or on a Redis store every process's. */
  private readonly eventLog: EventLog;
  private readonly inputSchema: ReturnType<typeof generationInputSchema>;
  private closed = false;

  constructor(private readonly parts: UnderstudyParts) {
    this.manager = parts.manager;
    this.recovery = parts.recovery;
    this.store = parts.store;
    this.clock = parts.clock;
    this.onEvent = parts.events.addListener;
    this.eventLog = parts.eventLog ?? new LocalEventLog({ events: parts.events.addListener, clock: parts.clock });
    this.inputSchema = generationInputSchema(parts.limits ?? DEFAULT_INPUT_LIMITS);
  }

  /**
   * Follows the events with their resumable ids, for one client of the WebSocket: after `since` the kept events
   * first (or a gap), then live ones, each once, in order (on a Redis store: every process's, as on every gateway).
   */
  followEvents(options: FollowEventLogOptions): EventFollow {
    return followEventLog(this.eventLog, options);
  }

  /** The GPU backends jobs run on, read-only (id, slots, loaded models, VRAM), for status views. */
  get backends(): ReadonlyArray<Pick<Backend, 'id' | 'slots' | 'loadedModels' | 'vram'>> {
    return this.parts.backends;
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
      if (waitingForModelTotal(counts) > 0 && status !== 'available' && this.manager.catalog.byId.has(modelId)) this.parts.downloads.request(modelId);
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
      ...(input.maxWaitTimeSeconds !== undefined ? { maxWaitTimeSeconds: input.maxWaitTimeSeconds } : {}),
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
    const request: JobRequest = {
      prompt: input.prompt,
      ...(input.negativePrompt !== undefined ? { negativePrompt: input.negativePrompt } : {}),
      ...(input.seed !== undefined ? { seed: input.seed } : {}),
      requirements: plan.requirements,
      ...(image ? { image } : {}),
    };
    const waits = planWaits(plan);
    const modelUsed = modelToRun(plan);

    // The queue position is the one the job that runs first was given on acceptance (hybrid: the alternative).
    let hybrid: { job: Job; queuePosition: number | null } | undefined;
    if (plan.strategyType === 'hybrid_approach') {
      hybrid = await this.enqueueWithPosition({ request, plan, modelUsed });
      this.announce('job.accepted', hybrid.job, plan.userMessage);
    }
    const hybridJob = hybrid?.job;
    const accepted = await this.enqueueWithPosition({
      request: hybridJob ? { ...request, requirements } : request,
      plan,
      modelUsed: hybridJob || waits ? input.model : modelUsed,
      ...(hybridJob || waits ? { initialState: 'waiting_for_model' as const, waitingFor: input.model } : {}),
      ...(hybridJob ? { hybridOf: hybridJob.id } : {}),
    });
    const job = accepted.job;
    this.announce(job.status === 'waiting_for_model' ? 'job.waiting' : 'job.accepted', job, plan.userMessage);
    if (plan.strategyType === 'download_and_retry') this.parts.downloads.request(input.model);
    this.parts.scheduler.wake();
    for (const queued of [hybridJob, job]) if (queued?.status === 'queued') this.parts.signalWork?.(queued.modelUsed).catch(() => undefined);
    const queuePosition = (hybrid ?? accepted).queuePosition;
    if (hybridJob) await this.parts.estimates?.admit(job);
    const estimate = await this.parts.estimates?.admit(hybridJob ?? job);
    return { job, ...(hybridJob ? { hybridJob } : {}), queuePosition, ...(estimate ? { estimate } : {}) };
  }

  /** Where a job's output file is on this machine. */
  outputPath(output: JobOutput): string {
    return this.parts.artifacts.toLocal(output.path);
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
    // The store makes the cancel certain (the worker's next renewal is refused); the signal makes it prompt.
    await this.parts.signalCancel?.(id, reason).catch(() => undefined);
    return job;
  }

  /** The job store's kind, reachability and durability. */
  storeStatus(): Promise<StoreStatus> {
    return this.parts.storeStatus?.() ?? Promise.resolve({ kind: 'sqlite', location: 'unknown', reachable: true, volatile: false, problems: [] });
  }

  /** The live workers, each with its backends (slots, busy, VRAM, installed and loaded models, downloads, health). */
  workers(): Promise<WorkerHeartbeat[]> {
    return this.parts.workers?.() ?? Promise.resolve([]);
  }

  /** Every catalog model with its availability. */
  async models(): Promise<Array<{ model: ModelDescriptor; status: ModelStatus }>> {
    const snapshot = await this.parts.availability.snapshot();
    return this.manager.catalog.models.map((model) => ({ model, status: statusOf(snapshot, model.id) }));
  }

  /** Downloads a model (resuming partial files) and releases the jobs waiting for it; resolves once it is available. */
  async downloadModel(modelId: string): Promise<void> {
    this.requireKnownModel(modelId);
    await this.parts.downloads.download(modelId);
  }

  /** Checks every file of a model by sha256; only for models whose files Understudy manages. */
  async verifyModel(modelId: string): Promise<VerifiedModel> {
    this.requireKnownModel(modelId);
    if (!this.parts.files) {
      throw new ValidationError('verify', [{ field: 'model', problem: 'model files are managed by the backend here; configure modelFiles to verify them', received: modelId }]);
    }
    return this.parts.files.verify(modelId);
  }

  /** Queue totals (queued and waiting jobs), by model and priority, and the age of the longest-waiting job. */
  queueStatus(): Promise<QueueStatus> {
    return this.parts.queue.status();
  }

  /** Queue totals without the age of the oldest job: a few rows of kept counts, for routes that are polled. */
  queueTotals(): Promise<QueueTotals> {
    return this.parts.queue.totals();
  }

  /** Number of jobs in each state. */
  jobCounts(): Promise<Record<JobState, number>> {
    return this.parts.queue.counts();
  }

  /** 1-based place of a queued job in the order jobs will run; null when it is not queued (or unknown). */
  queuePosition(jobId: string): Promise<number | null> {
    return this.parts.queue.position(jobId);
  }

  /** Most jobs waiting (queued or waiting for a model) at once. */
  get maxQueueSize(): number {
    return this.parts.queue.maxQueueSize;
  }

  /** How many jobs wait for each model now: what the planner counts as ahead of a new request. */
  jobsAhead(): Promise<(modelId: string) => number> {
    return this.parts.queue.jobsAhead();
  }

  /** Resolves when every accepted job has finished (nothing running, queued or waiting). */
  onIdle(): Promise<void> {
    return this.parts.scheduler.onIdle();
  }

  /**
   * Stops accepting, lets running jobs finish within `graceMs`, gives the rest back to the queue, stops downloads and
   * monitoring, saves what the estimator learned, stops what the engine launched, and closes the store.
   */
  async close(graceMs = 30_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.parts.scheduler.close(graceMs);
    this.parts.downloads.close();
    this.recovery.stopHealthMonitoring();
    await this.parts.estimates?.stop();
    await this.parts.learnedEstimates?.save(this.manager.learner);
    await Promise.all((this.parts.stopOnClose ?? []).map((s) => s.stop()));
    await this.store.close();
  }

  /** Stores a job with the queue position it was given, read with the insert when the store can. */
  private async enqueueWithPosition(newJob: NewJob): Promise<{ job: Job; queuePosition: number | null }> {
    if (this.store.enqueueWithPosition) return this.store.enqueueWithPosition(newJob);
    const job = await this.store.enqueue(newJob);
    return { job, queuePosition: await this.store.queuePosition(job.id) };
  }

  private requireKnownModel(modelId: string): ModelDescriptor {
    return requireModel(this.manager.catalog, modelId);
  }

  /** Stores an input image under its digest (the same image is kept once) and returns the reference. */
  private async saveImage(dataUrl: string): Promise<{ path: string; sha256: string }> {
    const { mediaType, bytes } = decodeImageDataUrl(dataUrl);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { artifacts } = this.parts;
    const path = join(artifacts.inputDir, `${sha256}.${mediaType.split('/')[1]}`);
    await mkdir(artifacts.inputDir, { recursive: true });
    await writeFile(path, bytes);
    return { path: artifacts.toStored(path), sha256 };
  }

  private announce(type: 'job.accepted' | 'job.waiting' | 'job.cancelled', job: Job, message: string): void {
    this.parts.events.emit({ type, at: this.clock.now(), jobId: job.id, status: job.status, model: job.waitingFor ?? job.modelUsed, message });
  }
}

