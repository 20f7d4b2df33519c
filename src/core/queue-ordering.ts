import { priorityRank, type Priority } from './vocabulary.js';

/** The fields queue order is decided on. */
export interface Orderable {
  priority: Priority;
  /** Epoch milliseconds the request was accepted. */
  queuedAt: number;
  /** Acceptance sequence number, breaking ties between requests accepted in the same millisecond. */
  sequence: number;
}

/**
 * Priority rank after aging: a request moves up one level for every `agingSeconds` it has waited, so a low request
 * cannot wait forever behind a stream of higher ones. 0 is critical. `agingSeconds` of 0 or less turns aging off.
 */
export function effectiveRank(item: Orderable, now: number, agingSeconds: number): number {
  const rank = priorityRank(item.priority);
  if (agingSeconds <= 0) return rank;
  const levels = Math.floor(Math.max(0, now - item.queuedAt) / 1000 / agingSeconds);
  return Math.max(0, rank - levels);
}

/** Queue order: critical > high > normal > low (after aging), then first come first served. */
export function compareQueueOrder(a: Orderable, b: Orderable, now: number, agingSeconds: number): number {
  const ra = effectiveRank(a, now, agingSeconds);
  const rb = effectiveRank(b, now, agingSeconds);
  if (ra !== rb) return ra - rb;
  if (a.queuedAt !== b.queuedAt) return a.queuedAt - b.queuedAt;
  return a.sequence - b.sequence;
}

/** Sorts a copy of `items` into queue order. */
export function sortQueue<T extends Orderable>(items: readonly T[], now: number, agingSeconds = 0): T[] {
  return [...items].sort((a, b) => compareQueueOrder(a, b, now, agingSeconds));
}

