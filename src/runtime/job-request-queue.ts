import type { FallbackStrategy } from '../core/planning.js';
import type { Job } from './job.js';
import { isInvalidTransitionError, isJobNotFoundError, type JobStore } from './job-store.js';
import type { QueuedRequest, RequestQueue } from './request-queue.js';

/**
 * The fallback manager's request queue on a job store, so that queued requests survive a restart. A queued request
 * is a job in `waiting_for_model` for the request's model, with the request id as job id; it counts against the
 * store's maxQueueSize together with the other waiting jobs, and the list shows every job waiting for a model.
 */
export class JobRequestQueue implements RequestQueue {
  constructor(private readonly store: JobStore) {}

  /** The store's maxQueueSize. */
  get maxSize(): number {
    return this.store.maxQueueSize;
  }

  async enqueue(request: Omit<QueuedRequest, 'sequence'>): Promise<{ position: number }> {
    const requirements = { ...request.requirements, priority: request.priority };
    await this.store.enqueue({
      id: request.requestId,
      request: { prompt: '', requirements },
      plan: waitingPlan(request.modelId, requirements),
      modelUsed: request.modelId,
      initialState: 'waiting_for_model',
      waitingFor: request.modelId,
      acceptedAt: request.queuedAt,
      deadline: Number.isFinite(request.expiresAt) ? request.expiresAt : null,
    });
    const queue = await this.store.listQueue({ status: 'waiting_for_model', now: request.queuedAt });
    return { position: queue.findIndex((job) => job.id === request.requestId) + 1 };
  }

  async list(now: number): Promise<QueuedRequest[]> {
    return (await this.store.listQueue({ status: 'waiting_for_model', now })).map(toQueuedRequest);
  }

  /** Takes a waiting request out of the queue; its job ends `cancelled`, with the removal on its timeline. */
  async remove(requestId: string): Promise<boolean> {
    try {
      await this.store.cancel(requestId, 'removed from the request queue', { ifState: 'waiting_for_model' });
      return true;
    } catch (error) {
      if (isJobNotFoundError(error) || isInvalidTransitionError(error)) return false;
      throw error;
    }
  }

  async removeExpired(now: number): Promise<QueuedRequest[]> {
    return (await this.store.expireDue(now, { states: ['waiting_for_model'] })).map(toQueuedRequest);
  }
}

/** A waiting job as the request-queue port sees it; a job without a deadline never expires. */
function toQueuedRequest(job: Job): QueuedRequest {
  return {
    requestId: job.id,
    modelId: job.waitingFor ?? job.modelUsed,
    requirements: job.request.requirements,
    priority: job.priority,
    queuedAt: job.createdAt,
    expiresAt: job.deadline ?? Number.POSITIVE_INFINITY,
    sequence: job.sequence,
  };
}

/**
 * The plan recorded for a request queued through the port, which carries no plan of its own: wait for the model.
 * It holds no estimate (0 s, confidence 0); the manager gives the estimate to the caller when it queues.
 */
function waitingPlan(modelId: string, requirements: QueuedRequest['requirements']): FallbackStrategy {
  return {
    strategyType: 'queue_and_wait',
    situation: 'download_in_progress',
    model: modelId,
    recommendedAction: `queue the request until ${modelId} is ready`,
    estimatedWaitTimeSeconds: 0,
    userMessage: `Queued until ${modelId} is ready.`,
    canQueueRequest: true,
    queueRequestedModel: false,
    confidenceScore: 0,
    fallbackOptions: [],
    requirementsAdjustments: [],
    requirements,
    isPreview: false,
  };
}
