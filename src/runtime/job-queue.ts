import type { Clock } from '../core/clock.js';
import type { JobState } from './job.js';
import type { JobStore } from './job-store.js';
import { queueStatusFrom, type QueueStatus, type QueueTotals } from './queue-status.js';

/** Where the planner learns how many jobs wait ahead of a new one, per model. */
export interface JobsAheadSource {
  /** A counter of the jobs waiting for each model now. */
  jobsAhead(): Promise<(modelId: string) => number>;
}

/** The engine's read-only view of its queue: totals, counts, limits and jobs ahead, from the job store. */
export class JobQueue implements JobsAheadSource {
  constructor(
    private readonly store: JobStore,
    private readonly clock: Clock,
  ) {}

  /** Most jobs waiting at once. */
  get maxQueueSize(): number {
    return this.store.maxQueueSize;
  }

  /** Number of jobs in each state. */
  counts(): Promise<Record<JobState, number>> {
    return this.store.counts();
  }

  /** 1-based place of a queued job in the order jobs will run; null when it is not queued. */
  position(jobId: string): Promise<number | null> {
    return this.store.queuePosition(jobId);
  }

  async jobsAhead(): Promise<(modelId: string) => number> {
    const { byModel } = await this.store.queueSnapshot();
    return (modelId) => byModel[modelId]?.total ?? 0;
  }

  /** Queue totals from the store's snapshot (a few rows of kept counts), without the age of the oldest job. */
  async totals(): Promise<QueueTotals> {
    return queueStatusFrom(await this.store.queueSnapshot(), this.store.maxQueueSize);
  }

  /** Queue totals and the age of the longest-waiting job (one more read). */
  async status(): Promise<QueueStatus> {
    const [totals, oldest] = await Promise.all([this.totals(), this.store.oldestWaitingAcceptedAt()]);
    return { ...totals, oldestRequestAgeSeconds: oldest === null ? null : (this.clock.now() - oldest) / 1000 };
  }
}
