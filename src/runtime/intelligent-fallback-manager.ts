import type { JobsAheadSource } from './job-queue.js';
import type { QueueSnapshot } from './job-store.js';
import { queueStatusFrom, type QueueStatus } from './queue-status.js';
import { v7 as timeOrderedUuid } from 'uuid';
import { EventEmitter, type Event } from 'cockatiel';
import { statusOf, type AvailabilitySnapshot, type AvailabilitySource } from '../core/availability.js';
import { createCatalog, type Catalog } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import { fallbackWaitTime, formatDuration, safeEstimateWaitTime, type EstimatedWaitTime, type ForecastWait } from '../core/estimates.js';
import { EstimateLearner } from '../core/learner.js';
import { PlannerConfigSchema, planFallback, type FallbackStrategy, type PlannerConfigInput, type PlannerConfig } from '../core/planning.js';
import { GenerationRequirementsSchema, type GenerationRequirements, type GenerationRequirementsInput } from '../core/requirements.js';
import { PRIORITIES, type FailureType, type Priority } from '../core/vocabulary.js';
import { parseOrThrow } from '../core/validation.js';
import { previewSuggestion, rankAlternatives, requireModel, type ModelSuggestion, type RankedAlternatives } from '../core/scoring.js';
import { InMemoryRequestQueue } from './in-memory-request-queue.js';
import { isQueueFullError, type QueuedRequest, type RequestQueue } from './request-queue.js';

/** Options of {@link IntelligentFallbackManager}. */
export interface IntelligentFallbackManagerOptions {
  availability: AvailabilitySource;
  clock: Clock;
  /** Default: the three Wan2.2 models. */
  catalog?: Catalog;
  config?: PlannerConfigInput;
  /** Default: an in-memory queue of 100. */
  queue?: RequestQueue;
  learner?: EstimateLearner;
  /** VRAM one job may use, GB; undefined means not constrained. Read on every decision. */
  vramBudgetGb?: () => number | undefined;
  /** GPU slots working through the queue (default 1). */
  slots?: number;
  /** How long a queued request may wait before it expires, seconds (default 24 h). */
  queueExpirySeconds?: number;
  /**
   * Jobs ahead of a new request, by model. Default: the requests in `queue`. The engine counts every waiting job in
   * its store, queued ones included.
   */
  queueAhead?: JobsAheadSource;
  /**
   * A new request's wait for each model as the queue forecast plays it (the engine's); when given it decides the
   * waits instead of queueAhead × seconds per position.
   */
  forecastWait?: (requirements: GenerationRequirements) => Promise<(modelId: string) => ForecastWait | undefined>;
}

/** What may be given when asking for a strategy. */
export interface StrategyContext {
  requirements?: Omit<GenerationRequirementsInput, 'modelType'>;
  failureType?: FailureType;
  errorMessage?: string;
}

/** Result of queuing a request for a model that is not ready (the reference's record, durations in seconds). */
export interface QueueResult {
  success: boolean;
  requestId?: string;
  /** 1-based. */
  queuePosition?: number;
  /** Seconds until the model can serve the request: the wait estimate's total. */
  estimatedWaitTimeSeconds?: number;
  /** What happened, in plain words. */
  message: string;
  error?: string;
  /** The wait estimate behind `estimatedWaitTimeSeconds`, with its confidence and factors. */
  waitEstimate?: EstimatedWaitTime;
}

export type { QueueStatus } from './queue-status.js';

/** Outcome of one processQueue pass. */
export interface ProcessQueueResult {
  /** Requests handed to their callback successfully and removed. */
  processed: string[];
  /** Requests whose callback threw; they stay queued. */
  failed: Array<{ requestId: string; error: string }>;
  /** Requests still queued after the pass. */
  remaining: number;
}

/** Called when a queued request's model becomes available. Throwing keeps the request queued. */
export type ReadyCallback = (request: QueuedRequest) => void | Promise<void>;

/** Emitted after every decision, for metrics and the event stream. */
export interface StrategyDecision {
  requestedModel: string;
  strategy: FallbackStrategy;
  durationMs: number;
}

/**
 * Smart alternatives when the requested model is not available: compatibility scoring, fallback strategies, wait
 * estimates and a queue of requests waiting for their model. No singletons: every dependency is given.
 */
export class IntelligentFallbackManager {
  readonly catalog: Catalog;
  readonly config: PlannerConfig;
  readonly learner: EstimateLearner;
  private readonly availability: AvailabilitySource;
  private readonly clock: Clock;
  private readonly queue: RequestQueue;
  private readonly callbacks = new Map<string, ReadyCallback>();
  private readonly decisions = new EventEmitter<StrategyDecision>();

  /** Fires after every strategy decision. */
  readonly onDecision: Event<StrategyDecision> = this.decisions.addListener;

  constructor(private readonly options: IntelligentFallbackManagerOptions) {
    this.catalog = options.catalog ?? createCatalog();
    this.config = parseOrThrow(PlannerConfigSchema, options.config ?? {}, 'planner config');
    this.learner = options.learner ?? new EstimateLearner();
    this.availability = options.availability;
    this.clock = options.clock;
    this.queue = options.queue ?? new InMemoryRequestQueue();
  }

  /** The best stand-in for `modelId`, or the labelled preview suggestion when no model scores 0.3 or more. */
  async suggestAlternativeModel(modelId: string, requirements: Omit<GenerationRequirementsInput, 'modelType'> = {}): Promise<ModelSuggestion> {
    const ranked = await this.rankAlternatives(modelId, requirements);
    return ranked.suggestions[0] ?? previewSuggestion(modelId, ranked.excluded.map((e) => e.reason).join('; ') || 'the catalog has no other model');
  }

  /** Every qualifying stand-in for `modelId`, best first, with the models ruled out and why. */
  async rankAlternatives(modelId: string, requirements: Omit<GenerationRequirementsInput, 'modelType'> = {}): Promise<RankedAlternatives> {
    const req = this.requirements(modelId, requirements);
    return rankAlternatives({
      catalog: this.catalog,
      requirements: req,
      availability: await this.availability.snapshot(),
      vramBudgetGb: this.options.vramBudgetGb?.(),
      scoring: this.config.scoring,
      estimation: this.config.estimation,
      learner: this.learner,
    });
  }

  /** The plan for a request for `modelId` in its current situation (availability, or the failure given). */
  async getFallbackStrategy(modelId: string, context: StrategyContext = {}): Promise<FallbackStrategy> {
    const req = this.requirements(modelId, context.requirements ?? {});
    const snapshot = await this.availability.snapshot();
    const ahead = await this.queueAheadCounter();
    const forecastWait = await this.options.forecastWait?.(req);
    const started = performance.now();
    const strategy = planFallback({
      catalog: this.catalog,
      requirements: req,
      availability: snapshot,
      vramBudgetGb: this.options.vramBudgetGb?.(),
      learner: this.learner,
      config: this.config,
      failureType: context.failureType,
      errorMessage: context.errorMessage,
      queueAhead: ahead,
      slots: this.options.slots,
      ...(forecastWait ? { forecastWait } : {}),
    });
    this.decisions.emit({ requestedModel: modelId, strategy, durationMs: performance.now() - started });
    return strategy;
  }

  /**
   * How long until `modelId` can serve a new request. When estimation fails the answer is 15 minutes at low
   * confidence, the error named in the factors; an unknown model is a ValidationError.
   */
  async estimateWaitTime(modelId: string): Promise<EstimatedWaitTime> {
    const model = requireModel(this.catalog, modelId);
    let snapshot: AvailabilitySnapshot;
    try {
      snapshot = await this.availability.snapshot();
    } catch (error) {
      return fallbackWaitTime(modelId, error, this.config.estimation);
    }
    const ahead = await this.queueAheadCounter();
    const forecast = (await this.options.forecastWait?.(this.requirements(modelId, {})))?.(modelId);
    return safeEstimateWaitTime({
      model,
      status: statusOf(snapshot, modelId),
      ...(forecast ? { forecast } : {}),
      queueAhead: ahead(modelId),
      slots: this.options.slots,
      learner: this.learner,
      config: this.config.estimation,
    });
  }

  /** Queues a request until its model is available; `onReady` runs from {@link processQueue}. */
  async queueRequestForDownloadingModel(
    modelId: string,
    requirements: Omit<GenerationRequirementsInput, 'modelType'> = {},
    onReady?: ReadyCallback,
  ): Promise<QueueResult> {
    const req = this.requirements(modelId, requirements);
    const now = this.clock.now();
    const requestId = timeOrderedUuid();
    try {
      const { position } = await this.queue.enqueue({
        requestId,
        modelId,
        requirements: req,
        priority: req.priority,
        queuedAt: now,
        expiresAt: now + (this.options.queueExpirySeconds ?? 24 * 3600) * 1000,
      });
      if (onReady) this.callbacks.set(requestId, onReady);
      const wait = await this.estimateWaitTime(modelId);
      return {
        success: true,
        requestId,
        queuePosition: position,
        estimatedWaitTimeSeconds: wait.totalWaitTimeSeconds,
        message: `Queued for ${modelId} at position ${position}; it can start in about ${formatDuration(wait.totalWaitTimeSeconds)} (${wait.confidence} confidence).`,
        waitEstimate: wait,
      };
    } catch (error) {
      if (isQueueFullError(error)) return { success: false, message: `Not queued: ${error.message}.`, error: error.message };
      throw error;
    }
  }

  /** Queue totals by model and priority. */
  async getQueueStatus(): Promise<QueueStatus> {
    const now = this.clock.now();
    const items = await this.queue.list(now);
    const snapshot: QueueSnapshot = { takenAt: now, byModel: {}, total: items.length };
    let oldest: number | null = null;
    for (const item of items) {
      const counts = (snapshot.byModel[item.modelId] ??= { queued: zeroByPriority(), waitingForModel: zeroByPriority(), total: 0 });
      counts.waitingForModel[item.priority]++;
      counts.total++;
      oldest = oldest === null ? item.queuedAt : Math.min(oldest, item.queuedAt);
    }
    return { ...queueStatusFrom(snapshot, this.queue.maxSize), oldestRequestAgeSeconds: oldest === null ? null : (now - oldest) / 1000 };
  }

  /**
   * Hands every queued request whose model is now available to its callback, in queue order, removing it.
   * A callback that throws leaves its request queued and is reported in `failed`.
   */
  async processQueue(): Promise<ProcessQueueResult> {
    const snapshot = await this.availability.snapshot();
    const result: ProcessQueueResult = { processed: [], failed: [], remaining: 0 };
    for (const item of await this.queue.list(this.clock.now())) {
      if (statusOf(snapshot, item.modelId).status !== 'available') continue;
      try {
        await this.callbacks.get(item.requestId)?.(item);
        await this.queue.remove(item.requestId);
        this.callbacks.delete(item.requestId);
        result.processed.push(item.requestId);
      } catch (error) {
        result.failed.push({ requestId: item.requestId, error: error instanceof Error ? error.message : String(error) });
      }
    }
    result.remaining = (await this.queue.list(this.clock.now())).length;
    return result;
  }

  /** Removes requests older than the expiry; resolves with how many were removed. */
  async cleanupExpiredRequests(): Promise<number> {
    const expired = await this.queue.removeExpired(this.clock.now());
    for (const item of expired) this.callbacks.delete(item.requestId);
    return expired.length;
  }

  private requirements(modelId: string, input: Omit<GenerationRequirementsInput, 'modelType'>): GenerationRequirements {
    return parseOrThrow(GenerationRequirementsSchema, { ...input, modelType: modelId }, 'requirements');
  }

  private async queueAheadCounter(): Promise<(modelId: string) => number> {
    if (this.options.queueAhead) return this.options.queueAhead.jobsAhead();
    const counts = new Map<string, number>();
    for (const item of await this.queue.list(this.clock.now())) counts.set(item.modelId, (counts.get(item.modelId) ?? 0) + 1);
    return (modelId) => counts.get(modelId) ?? 0;
  }
}

function zeroByPriority(): Record<Priority, number> {
  return Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
}
