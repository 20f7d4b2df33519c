import { PRIORITIES, type Priority } from '../core/vocabulary.js';
import type { QueueSnapshot } from './job-store.js';

/** Queue totals, by model and by priority. */
export interface QueueTotals {
  totalQueuedRequests: number;
  queueByModel: Record<string, number>;
  queueByPriority: Record<Priority, number>;
  maxQueueSize: number;
  /** Percent of the queue in use. */
  queueUtilization: number;
}

/** Queue totals and the age of the longest-waiting request. */
export interface QueueStatus extends QueueTotals {
  oldestRequestAgeSeconds: number | null;
}

/** The totals of a queue snapshot (queued and waiting jobs together) against the queue's size. */
export function queueStatusFrom(snapshot: QueueSnapshot, maxQueueSize: number): QueueTotals {
  const queueByModel: Record<string, number> = {};
  const queueByPriority = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
  for (const [model, counts] of Object.entries(snapshot.byModel)) {
    queueByModel[model] = counts.total;
    for (const p of PRIORITIES) queueByPriority[p] += counts.queued[p] + counts.waitingForModel[p];
  }
  return {
    totalQueuedRequests: snapshot.total,
    queueByModel,
    queueByPriority,
    maxQueueSize,
    queueUtilization: (snapshot.total / maxQueueSize) * 100,
  };
}
