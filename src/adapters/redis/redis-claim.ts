/**
 * Which queued job a claim takes, from the heads of the priority lanes of the ready models' queues: the same rule as
 * every store (core/queue-ordering.ts: priority after aging, then acceptance order, then bounded model affinity).
 * BullMQ then hands out exactly that job (see model-queues.ts).
 */
import { agedRank, chooseWithAffinity } from '../../core/queue-ordering.js';
import type { ClaimOptions } from '../../runtime/job-store.js';
import type { ClaimCandidate } from './redis-scripts.js';

/** A candidate with its priority rank after aging at the claim's time. */
export interface RankedCandidate extends ClaimCandidate {
  effectiveRank: number;
}

/**
 * The job to claim among `candidates` (the first few of each lane of each ready model, none past its deadline) at
 * `now`, and how many jobs model affinity skipped to reach it; null when there are none.
 */
export function chooseClaim(
  candidates: readonly ClaimCandidate[],
  now: number,
  agingSeconds: number,
  prefer: ClaimOptions['preferModel'],
): { chosen: RankedCandidate; skipped: number } | null {
  const ranked = candidates
    .map((c) => ({ ...c, effectiveRank: agedRank(c.rank, c.createdAt, now, agingSeconds) }))
    .sort((a, b) => a.effectiveRank - b.effectiveRank || a.createdAt - b.createdAt || a.sequence - b.sequence);
  return chooseWithAffinity(ranked, prefer);
}
