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
  return agedRank(priorityRank(item.priority), item.queuedAt, now, agingSeconds);
}

/** {@link effectiveRank} from the priority's rank (0 = critical), for callers that already know it. */
export function agedRank(rank: number, queuedAt: number, now: number, agingSeconds: number): number {
  if (agingSeconds <= 0) return rank;
  const levels = Math.floor(Math.max(0, now - queuedAt) / 1000 / agingSeconds);
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


/**
 * Which jobs of one priority lane are ahead of a job whose rank after aging is `rank`. Within a lane an older job has
 * aged at least as much, so the jobs ahead are always the lane's oldest ones: every job accepted at or before
 * `allUpTo`, and of those accepted at or before `tiedUpTo`, the ones accepted before the job itself (they tie on rank
 * and go first by age). The bounds are epoch milliseconds, `Infinity` for the whole lane, `-Infinity` for none;
 * `allUpTo` is never above `tiedUpTo`.
 */
export interface LaneAhead {
  allUpTo: number;
  tiedUpTo: number;
}

/** {@link LaneAhead} for lane `laneRank` (0 = critical) at `now`; the same arithmetic as {@link effectiveRank}. */
export function laneAhead(laneRank: number, rank: number, now: number, agingSeconds: number): LaneAhead {
  if (agingSeconds <= 0) {
    return { allUpTo: laneRank < rank ? Infinity : -Infinity, tiedUpTo: laneRank <= rank ? Infinity : -Infinity };
  }
  // A lane job's rank is at most r once it has waited (laneRank - r) levels of agingSeconds.
  const acceptedBy = (levels: number): number => (levels <= 0 ? Infinity : now - levels * agingSeconds * 1000);
  return { allUpTo: rank === 0 ? -Infinity : acceptedBy(laneRank - rank + 1), tiedUpTo: acceptedBy(laneRank - rank) };
}
