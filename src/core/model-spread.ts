/**
 * Model-aware dispatch: which model a GPU slot that just became free should take next, so that the GPUs keep
 * distinct models loaded and swap only when the work is out of balance. The job store's claim carries the choice
 * out (its `preferModel`: the chosen model's first job of the head's priority after aging, never past a more urgent
 * one), and the queue forecast plays the same choice forward, so estimates follow the order jobs really run in.
 *
 * The rule, for a backend whose first loaded model is `r`, with `queued(m)` jobs queued for model m that it can run
 * and `running(m)` jobs of m running on the other slots:
 * - every model with work is loaded here (or nothing is queued): no preference, the queue's head goes first;
 * - `r` has no work: take the model with the most queued jobs per server (its servers plus this one);
 * - otherwise compare the busiest queue per server (`queued / running`) with this slot staying on `r` and with it
 *   moving to that model: move when staying leaves it at least `minRatio` times higher, else stay on `r` at any
 *   distance (a model with work and no server always gets this slot when `r` keeps another);
 * - when neither `r` nor that model would have a server without this slot (more models than GPUs), fall back to
 *   bounded affinity: `r`'s job within `maxSkip` jobs of the head, as before.
 * Pure and deterministic: ties go to the model with more queued jobs, then to the smaller model id.
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
  /** How many times busier the busiest queue per server must be if the slot stays than if it moves (default {@link DEFAULT_MIN_RATIO}). */
  minRatio?: number;
}

/** The claim's preference: the first job for `modelId` within `maxSkip` jobs of the head (Infinity: any distance). */
export interface ModelChoice {
  modelId: string;
  maxSkip: number;
  /** `stay` on the loaded model, `move` to another, or plain bounded `affinity`. */
  reason: 'stay' | 'move' | 'affinity';
}

/**
 * Moves only for a threefold imbalance: a move costs a model load and undoes itself when the queues even out again,
 * and the fewer moves there are the closer the forecast (which sees no future arrivals) stays to what happens.
 * bench/estimates.ts prints the sensitivity (1.5, 2, 3, never).
 */
export const DEFAULT_MIN_RATIO = 3;

/** The model the free slot should take; undefined to take the queue's head. See the module comment. */
export function chooseModel(input: ModelSpreadInput): ModelChoice | undefined {
  let stay: ModelDemand | undefined;
  let target: ModelDemand | undefined;
  let uncovered = false;
  const kept = input.resident[0];
  for (const d of input.demand) {
    if (d.queued <= 0) continue;
    if (d.modelId === kept) stay = d;
    if (input.resident.includes(d.modelId)) continue;
    uncovered = true;
    if (!target || isBusier(d, target)) target = d;
  }
  if (!uncovered || !target) return undefined;
  if (!stay) return { modelId: target.modelId, maxSkip: Infinity, reason: 'move' };
  const staying = Math.max(perServer(stay.queued, stay.running + 1), perServer(target.queued, target.running));
  const moving = Math.max(perServer(stay.queued, stay.running), perServer(target.queued, target.running + 1));
  if (staying === Infinity && moving === Infinity) return { modelId: stay.modelId, maxSkip: input.maxSkip, reason: 'affinity' };
  if (staying >= (input.minRatio ?? DEFAULT_MIN_RATIO) * moving) return { modelId: target.modelId, maxSkip: Infinity, reason: 'move' };
  return { modelId: stay.modelId, maxSkip: Infinity, reason: 'stay' };
}

function perServer(queued: number, servers: number): number {
  return servers > 0 ? queued / servers : Infinity;
}

/** Whether `a` has more queued jobs per server than `b` if this slot joins it (ties: more queued, then smaller id). */
function isBusier(a: ModelDemand, b: ModelDemand): boolean {
  const pa = a.queued / (a.running + 1);
  const pb = b.queued / (b.running + 1);
  if (pa !== pb) return pa > pb;
  if (a.queued !== b.queued) return a.queued > b.queued;
  return a.modelId < b.modelId;
}
