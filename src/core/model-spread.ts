/**
 * Model-aware dispatch: which model a GPU slot that just became free should take next, so that the GPUs keep
 * distinct models loaded and swap only when a model with work has no GPU. The job store's claim carries the choice
 * out (its `preferModel`: the chosen model's first job of the head's priority after aging, never past a more urgent
 * one), and the queue forecast plays the same choice forward, so estimates follow the order jobs really run in.
 *
 * The rule, for a backend whose first loaded model is `r`, with `queued(m)` jobs queued for model m that it can run
 * and `running(m)` jobs of m running on the other slots:
 * - every model with work is loaded here (or nothing is queued): no preference, the queue's head goes first;
 * - of the models with work not loaded here, the target is the one with the most queued jobs per server (its
 *   servers plus this one);
 * - `r` has no work: move to the target;
 * - the target has no server while `r` keeps another one: move to it;
 * - neither `r` nor that model would have a server without this slot (more models than GPUs): bounded affinity,
 *   `r`'s job within `maxSkip` jobs of the head, as without spreading;
 * - otherwise stay on `r`, at any distance from the head.
 * Balance between models that all have a server comes from aging: a model's queue that its GPUs cannot keep up with
 * grows old, its jobs outrank the others' and become the head, and the next free GPU takes the head. Moving on
 * queue lengths alone was measured worse (bench/estimates.ts): every move undoes itself once the queues even out,
 * and the forecast, which sees no future arrivals, then moves GPUs the real scheduler does not.
 * Pure and deterministic: ties go to the model with more queued jobs, then to the smaller model id.
 * Cost: O(models × resident models), no allocation but the result.
 */

/** How much work one model has, as a free slot sees it. */
export interface ModelDemand {
  modelId: string;
  /** Jobs queued for it that this backend can run now. */
  queued: number;
  /** Jobs of it running on the other GPU slots. */
  running: number;
}

/** What the choice is made from. */
export interface ModelSpreadInput {
  /** Models loaded on the free backend, in its order (the first is the one it keeps). */
  resident: readonly string[];
  /** Per model; models with nothing queued are ignored. */
  demand: readonly ModelDemand[];
  /** Jobs bounded affinity may pass when spreading cannot decide (the scheduler's affinity maxSkip). */
  maxSkip: number;
}

/** The claim's preference: the first job for `modelId` within `maxSkip` jobs of the head (Infinity: any distance). */
export interface ModelChoice {
  modelId: string;
  maxSkip: number;
  /** `stay` on the loaded model, `move` to another, or plain bounded `affinity`. */
  reason: 'stay' | 'move' | 'affinity';
}

/** The model the free slot should take; undefined to take the queue's head. See the module comment. */
export function chooseModel(input: ModelSpreadInput): ModelChoice | undefined {
  let stay: ModelDemand | undefined;
  let target: ModelDemand | undefined;
  const kept = input.resident[0];
  for (const d of input.demand) {
    if (d.queued <= 0) continue;
    if (d.modelId === kept) stay = d;
    if (input.resident.includes(d.modelId)) continue;
    if (!target || isBusier(d, target)) target = d;
  }
  if (!target) return undefined;
  if (!stay) return { modelId: target.modelId, maxSkip: Infinity, reason: 'move' };
  if (target.running > 0) return { modelId: stay.modelId, maxSkip: Infinity, reason: 'stay' };
  if (stay.running > 0) return { modelId: target.modelId, maxSkip: Infinity, reason: 'move' };
  return { modelId: stay.modelId, maxSkip: input.maxSkip, reason: 'affinity' };
}

/** Whether `a` has more queued jobs per server than `b` if this slot joins it (ties: more queued, then smaller id). */
function isBusier(a: ModelDemand, b: ModelDemand): boolean {
  const pa = a.queued / (a.running + 1);
  const pb = b.queued / (b.running + 1);
  if (pa !== pb) return pa > pb;
  if (a.queued !== b.queued) return a.queued > b.queued;
  return a.modelId < b.modelId;
}
