/**
 * The last hour of the service, a minute at a time: jobs accepted (`job.accepted`, or `job.waiting` for a job that
 * waits for its model from the start; a later `job.waiting` after a re-plan is not counted again) and finished, from
 * the engine's events; and the queue depth (jobs queued or waiting for a model), sampled from the store's counts
 * when jobs change, at most every few seconds. Kept in memory from the moment the server starts; the chart reads it.
 */
import type { Clock } from '../../core/clock.js';
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import type { JobState } from '../../runtime/job.js';

/** One minute of activity. */
export interface ActivityBucket {
  /** Start of the minute, epoch ms. */
  start: number;
  accepted: number;
  succeeded: number;
  /** Failed, cancelled or expired. */
  unsuccessful: number;
  /** Largest queue depth sampled in the minute; null when none was sampled. */
  queueDepth: number | null;
}

/** What the history needs from the engine. */
export interface ActivitySource {
  readonly clock: Clock;
  readonly onEvent: (listener: (event: UnderstudyEvent) => void) => { dispose(): void };
  jobCounts(): Promise<Record<JobState, number>>;
}

/** Options of {@link ActivityHistory}. */
export interface ActivityHistoryOptions {
  /** Length of a bucket, ms (default 60,000). */
  bucketMs?: number;
  /** Buckets kept (default 60: an hour of minutes). */
  buckets?: number;
  /** Least time between two queue depth samples taken because of events, ms (default 5,000). */
  sampleEveryMs?: number;
}

/** Per-minute counters of the last hour, fed by the engine's events. */
export class ActivityHistory {
  readonly bucketMs: number;
  private readonly size: number;
  private readonly sampleEveryMs: number;
  private readonly buckets: ActivityBucket[] = [];
  private readonly subscription: { dispose(): void };
  /** Jobs counted as accepted within the window, with when: a re-plan's `job.waiting` is not a new acceptance. */
  private readonly acceptedAt = new Map<string, number>();
  private lastSample = -Infinity;
  private sampling: Promise<void> | null = null;

  constructor(private readonly source: ActivitySource, options: ActivityHistoryOptions = {}) {
    this.bucketMs = options.bucketMs ?? 60_000;
    this.size = options.buckets ?? 60;
    this.sampleEveryMs = options.sampleEveryMs ?? 5_000;
    this.subscription = source.onEvent((event) => this.record(event));
  }

  /** The buckets of the last hour, oldest first, every minute present (empty ones with zeros); samples the queue now. */
  async read(): Promise<ActivityBucket[]> {
    await this.sample();
    const now = this.source.clock.now();
    const current = this.startOf(now);
    const byStart = new Map(this.buckets.map((b) => [b.start, b]));
    const result: ActivityBucket[] = [];
    for (let i = this.size - 1; i >= 0; i--) {
      const start = current - i * this.bucketMs;
      result.push(byStart.get(start) ?? { start, accepted: 0, succeeded: 0, unsuccessful: 0, queueDepth: null });
    }
    return result;
  }

  /** Stops listening to the engine. */
  dispose(): void {
    this.subscription.dispose();
  }

  private record(event: UnderstudyEvent): void {
    const bucket = (): ActivityBucket => this.bucketAt(event.at);
    if (event.type === 'job.accepted' || event.type === 'job.waiting') {
      if (this.acceptedAt.has(event.jobId)) return;
      this.acceptedAt.set(event.jobId, event.at);
      bucket().accepted++;
    }
    else if (event.type === 'job.succeeded') bucket().succeeded++;
    else if (event.type === 'job.failed' || event.type === 'job.cancelled' || event.type === 'job.expired') bucket().unsuccessful++;
    else return;
    if (this.source.clock.now() - this.lastSample >= this.sampleEveryMs) void this.sample().catch(() => undefined);
  }

  /** Samples the queue depth into the current bucket (one sample at a time). */
  private sample(): Promise<void> {
    this.sampling ??= (async () => {
      try {
        this.lastSample = this.source.clock.now();
        const counts = await this.source.jobCounts();
        const bucket = this.bucketAt(this.source.clock.now());
        const depth = counts.queued + counts.waiting_for_model;
        bucket.queueDepth = Math.max(bucket.queueDepth ?? 0, depth);
      } finally {
        this.sampling = null;
      }
    })();
    return this.sampling;
  }

  private bucketAt(at: number): ActivityBucket {
    const start = this.startOf(at);
    let bucket = this.buckets.find((b) => b.start === start);
    if (!bucket) {
      bucket = { start, accepted: 0, succeeded: 0, unsuccessful: 0, queueDepth: null };
      this.buckets.push(bucket);
      this.buckets.sort((a, b) => a.start - b.start);
      while (this.buckets.length > this.size) this.buckets.shift();
      const oldest = this.buckets[0]!.start;
      for (const [id, at] of this.acceptedAt) if (at < oldest) this.acceptedAt.delete(id);
    }
    return bucket;
  }

  private startOf(at: number): number {
    return Math.floor(at / this.bucketMs) * this.bucketMs;
  }
}
