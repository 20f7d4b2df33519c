import type { IDisposable } from 'cockatiel';
import type { z } from 'zod';
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import type { Understudy } from '../../runtime/understudy.js';
import type { QueueStatusSchema } from './schemas.js';

/** What `GET /v1/queue` answers. */
export type QueueTotalsView = z.infer<typeof QueueStatusSchema>;

/** Queue totals from the engine (a few rows of kept counts; the age of the oldest job is not read). */
export async function readQueueTotals(understudy: Understudy): Promise<QueueTotalsView> {
  const { totalQueuedRequests, queueByModel, maxQueueSize, queueUtilization } = await understudy.queueTotals();
  return { totalQueuedRequests, queueByModel, maxQueueSize, queueUtilization };
}

/** Job events that change what waits; progress does not. */
const QUEUE_CHANGES: ReadonlySet<UnderstudyEvent['type']> = new Set([
  'job.accepted',
  'job.waiting',
  'job.released',
  'job.started',
  'job.requeued',
  'job.replanned',
  'job.succeeded',
  'job.failed',
  'job.cancelled',
  'job.expired',
]);

/**
 * Queue totals kept between changes, for a route that dashboards poll: read again after any job event that changes
 * what waits, and at least every `maxAgeMs` on the engine's clock (for changes no event announces).
 */
export class QueueTotalsCache implements IDisposable {
  private cached: { at: number; totals: Promise<QueueTotalsView> } | null = null;
  private readonly subscription: IDisposable;

  constructor(
    private readonly understudy: Understudy,
    private readonly maxAgeMs = 1000,
  ) {
    this.subscription = understudy.onEvent((event) => {
      if (QUEUE_CHANGES.has(event.type)) this.cached = null;
    });
  }

  /** The current totals. */
  read(): Promise<QueueTotalsView> {
    const now = this.understudy.clock.now();
    if (!this.cached || now - this.cached.at > this.maxAgeMs) {
      const entry = { at: now, totals: readQueueTotals(this.understudy) };
      entry.totals.catch(() => {
        if (this.cached === entry) this.cached = null;
      });
      this.cached = entry;
    }
    return this.cached.totals;
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
