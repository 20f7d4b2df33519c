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

/** Counts of one priority lane that a queue position needs (see {@link queuedAhead}). */
export interface LaneCounter {
  /** Queued jobs of the lane. */
  total(): number;
  /** Queued jobs of the lane ahead of the job in acceptance order (accepted before it, or in the same ms with a lower sequence). */
  before(): number;
  /** Queued jobs of the lane accepted at or before `upTo` (finite epoch ms). */
  upTo(upTo: number): number;
}

/**
 * How many queued jobs are ahead of a queued job whose rank after aging is `rank` at `now`, lane by lane from
 * {@link laneAhead}: for a job just accepted that reads the lane totals and the few jobs old enough to have aged past
 * it, however long the queue. `lane(r)` gives the counts of lane r (0 = critical); a store backs them with its indexes.
 */
export function queuedAhead(rank: number, now: number, agingSeconds: number, lanes: number, lane: (laneRank: number) => LaneCounter): number {
  let ahead = 0;
  for (let r = 0; r < lanes; r++) {
    const { allUpTo, tiedUpTo } = laneAhead(r, rank, now, agingSeconds);
    if (tiedUpTo === -Infinity) continue; // then allUpTo is -Infinity too: none of this lane is ahead
    const counter = lane(r);
    if (allUpTo === Infinity) {
      ahead += counter.total();
      continue;
    }
    const before = counter.before();
    const tied = tiedUpTo === Infinity ? before : Math.min(countUpTo(counter, tiedUpTo), before);
    ahead += Math.max(countUpTo(counter, allUpTo), tied);
  }
  return ahead;
}

function countUpTo(counter: LaneCounter, upTo: number): number {
  return upTo === -Infinity ? 0 : counter.upTo(upTo);
}

/** A claim candidate as model affinity sees it. */
export interface AffinityCandidate {
  modelId: string;
  /** Priority rank after aging. */
  effectiveRank: number;
}

/**
 * Model affinity over candidates in queue order: the first job of `prefer.modelId` among the first `maxSkip + 1`,
 * if it is as urgent as the head (affinity never passes a more urgent job), else the head; with how many it skipped.
 * Null when there are no candidates.
 */
export function chooseWithAffinity<T extends AffinityCandidate>(
  ordered: readonly T[],
  prefer?: { modelId: string; maxSkip: number },
): { chosen: T; skipped: number } | null {
  const head = ordered[0];
  if (!head) return null;
  const window = prefer ? ordered.slice(0, Math.max(0, Math.floor(prefer.maxSkip)) + 1) : [];
  const skipped = window.findIndex((c) => c.modelId === prefer?.modelId && c.effectiveRank === head.effectiveRank);
  return skipped > 0 ? { chosen: window[skipped] as T, skipped } : { chosen: head, skipped: 0 };
}
