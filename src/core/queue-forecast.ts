/**
 * Forecasts when every waiting job starts and ends by playing the queue forward as the scheduler would run it: jobs in
 * the scheduler's order (priority after aging, then first come first served; queue-ordering's agedRank), the model
 * each free slot takes (model-spread's choice, or bounded affinity) as the job store's claim applies it, each job's
 * own generation time, model loads when a backend has to swap, and models that become ready when their download
 * ends. Pure and deterministic: fed a snapshot, no I/O.
 *
 * Cost: O(jobs × (slots + lanes × log jobs)); lanes are (model, priority) pairs, so a thousand queued jobs on four
 * backends take well under a millisecond (bench/estimator-speed.ts).
 */
import { chooseModel, type ModelChoice, type ModelDemand } from './model-spread.js';
import { agedRank, type Orderable } from './queue-ordering.js';
import { PRIORITIES, type Priority } from './vocabulary.js';

/** A waiting job (queued, or waiting for its model). */
export interface ForecastJob extends Orderable {
  id: string;
  /** The model it runs on (or waits for). */
  modelId: string;
  /** Seconds its generation takes once its model is loaded. */
  generationSeconds: number;
  /** Whether `generationSeconds` comes from measured runs (true) or from the catalog (false). */
  learned: boolean;
}

/** A job running now. */
export interface ForecastRunningJob {
  id: string;
  backendId: string;
  modelId: string;
  /** Epoch milliseconds it is expected to end. */
  endsAt: number;
}

/** Seconds a model takes to load on a backend, and whether measured. */
export interface LoadTime {
  seconds: number;
  learned: boolean;
}

/** A GPU backend as the forecast sees it. */
export interface ForecastBackend {
  id: string;
  slots: number;
  /** Models loaded now, as the backend lists them; the first is the one affinity prefers (as the scheduler does). */
  loadedModels: readonly string[];
  /** Models this backend can run now. Models whose download ends later join at {@link QueueForecastInput.readyAt}. */
  readyModels: ReadonlySet<string>;
  /** Whether models whose download ends become ready here too (default true; false for a preview renderer). */
  takesDownloads?: boolean;
  /** Models resident at once before a load evicts the least recently used one (default max(1, loaded now)). */
  modelCapacity?: number;
  loadTime(modelId: string): LoadTime;
}

/** Model affinity as the scheduler applies it (see AffinityOptions in the runtime). */
export interface ForecastAffinity {
  enabled: boolean;
  maxSkip: number;
  /** Model-aware dispatch (core/model-spread.ts) decides which model a free slot takes (default false: bounded affinity alone). */
  spread?: boolean;
}

/** Everything the forecast is made from. */
export interface QueueForecastInput {
  /** Epoch milliseconds of the snapshot. */
  now: number;
  /** Seconds of waiting per priority level gained; 0 turns aging off. */
  agingSeconds: number;
  affinity: ForecastAffinity;
  /** Waiting jobs in any order. */
  waiting: readonly ForecastJob[];
  running: readonly ForecastRunningJob[];
  backends: readonly ForecastBackend[];
  /** Epoch milliseconds models not ready now become ready on every backend (their download ends). */
  readyAt: ReadonlyMap<string, number>;
}

/** When one job is expected to start and end, and what that rests on. */
export interface JobForecast {
  jobId: string;
  backendId: string;
  /** Epoch milliseconds. */
  startAt: number;
  /** Epoch milliseconds the result is expected. */
  endAt: number;
  /** Seconds of model load before its generation (0 when its model is already loaded). */
  loadSeconds: number;
  /** Jobs that start before it (running ones included). */
  jobsAhead: number;
  /** Model loads forecast before it starts, on any backend. */
  loadsAhead: number;
  /** Whether it waits for its model's download. */
  waitsForDownload: boolean;
  /** Share (0 to 1) of the forecast seconds up to its end that rest on assumed rather than measured figures. */
  assumedShare: number;
}

/** The forecast of every waiting job; `unreachable` lists jobs no backend will run (their model never becomes ready). */
export interface QueueForecast {
  jobs: Map<string, JobForecast>;
  unreachable: string[];
}

interface Lane {
  /** Its index in Forecaster.lanes. */
  index: number;
  /** Index of its model in Forecaster.models. */
  model: number;
  /** The lane's priority rank, 0 = critical. */
  rank: number;
  jobs: ForecastJob[];
  next: number;
}

interface Slot {
  backend: number;
  freeAt: number;
  /** Model index of the job it runs until freeAt; -1 for none. */
  model: number;
}

interface Resident {
  model: number;
  lastUsedAt: number;
}

/** Plays the queue forward; see the module comment. */
export function forecastQueue(input: QueueForecastInput): QueueForecast {
  return new Forecaster(input).run();
}

class Forecaster {
  private readonly models: string[] = [];
  private readonly modelIndex = new Map<string, number>();
  private readonly lanes: Lane[] = [];
  private readonly slots: Slot[] = [];
  private readonly resident: Resident[][];
  /** By backend, the ids of its resident models in order (what model-spread is given). */
  private readonly residentIds: string[][];
  private readonly capacity: number[];
  /** Jobs left per model. */
  private left: Int32Array;
  private readonly agingMs: number;
  private readonly spread: boolean;
  private readonly out = new Map<string, JobForecast>();
  private dispatched: number;
  private loads = 0;
  private totalSeconds = 0;
  private assumedSeconds = 0;
  /** By backend, then lane: epoch ms the lane's model is ready there (-Infinity: now; Infinity: never). */
  private readonly laneReadyAt: Float64Array[];
  /** Per lane, the rank of its next job at the current pick, and until when (epoch ms) that rank holds. */
  private readonly headRanks: Int32Array;
  private readonly headRankUntil: Float64Array;
  /** Indices of the lanes with jobs left. */
  private readonly active: number[];
  /** By backend, then model: epoch ms the model is ready there. */
  private readonly modelReadyAt: Float64Array[];
  /** Per model, what model-spread sees at the current pick. */
  private readonly demand: ModelDemand[];

  constructor(private readonly input: QueueForecastInput) {
    this.agingMs = input.agingSeconds > 0 ? input.agingSeconds * 1000 : 0;
    this.spread = input.affinity.enabled && input.affinity.spread === true;
    const byModel: Lane[][] = [];
    for (const job of input.waiting) {
      const model = this.indexOf(job.modelId);
      const lanes = (byModel[model] ??= []);
      const rank = RANK_OF[job.priority];
      let lane = lanes[rank];
      if (!lane) this.lanes.push((lane = lanes[rank] = { index: this.lanes.length, model, rank, jobs: [], next: 0 }));
      lane.jobs.push(job);
    }
    for (const lane of this.lanes) if (!isSorted(lane.jobs)) lane.jobs.sort(byAcceptance);
    for (const r of input.running) this.indexOf(r.modelId);
    for (const b of input.backends) for (const m of b.loadedModels) this.indexOf(m);
    this.left = new Int32Array(this.models.length);
    for (const lane of this.lanes) this.left[lane.model]! += lane.jobs.length;
    this.headRanks = new Int32Array(this.lanes.length);
    this.headRankUntil = new Float64Array(this.lanes.length).fill(-Infinity);
    this.active = this.lanes.map((_, i) => i);
    this.demand = this.models.map((modelId) => ({ modelId, queued: 0, running: 0 }));
    this.laneReadyAt = input.backends.map((b) => {
      const at = new Float64Array(this.lanes.length);
      this.lanes.forEach((l, i) => {
        const modelId = this.models[l.model]!;
        at[i] = b.readyModels.has(modelId) ? -Infinity : b.takesDownloads === false ? Infinity : (input.readyAt.get(modelId) ?? Infinity);
      });
      return at;
    });
    this.modelReadyAt = this.laneReadyAt.map((at) => {
      const byModelAt = new Float64Array(this.models.length).fill(Infinity);
      this.lanes.forEach((l, i) => (byModelAt[l.model] = at[i]!));
      return byModelAt;
    });
    this.resident = input.backends.map((b) => b.loadedModels.map((m) => ({ model: this.modelIndex.get(m)!, lastUsedAt: input.now })));
    this.residentIds = input.backends.map((b) => [...b.loadedModels]);
    this.capacity = input.backends.map((b) => b.modelCapacity ?? Math.max(1, b.loadedModels.length));
    input.backends.forEach((backend, index) => {
      const busy = input.running
        .filter((r) => r.backendId === backend.id)
        .map((r) => ({ freeAt: Math.max(input.now, r.endsAt), model: this.modelIndex.get(r.modelId)! }));
      for (const r of busy) this.touch(index, r.model, input.now);
      busy.sort((a, b) => a.freeAt - b.freeAt);
      for (let s = 0; s < backend.slots; s++) this.slots.push({ backend: index, freeAt: busy[s]?.freeAt ?? input.now, model: busy[s]?.model ?? -1 });
    });
    this.dispatched = input.running.length;
  }

  run(): QueueForecast {
    let remaining = this.input.waiting.length;
    while (remaining > 0) {
      const slot = this.earliestSlot();
      if (!slot || slot.freeAt === Infinity) break;
      const t = Math.max(this.input.now, slot.freeAt);
      const lane = this.pick(slot, t);
      if (!lane) {
        slot.freeAt = this.nextReadyAfter(t);
        slot.model = -1;
        continue;
      }
      remaining--;
      this.dispatch(lane, slot, t);
    }
    const unreachable = remaining === 0 ? [] : this.input.waiting.filter((j) => !this.out.has(j.id)).map((j) => j.id);
    return { jobs: this.out, unreachable };
  }

  private indexOf(modelId: string): number {
    let index = this.modelIndex.get(modelId);
    if (index === undefined) {
      this.modelIndex.set(modelId, (index = this.models.length));
      this.models.push(modelId);
    }
    return index;
  }

  private earliestSlot(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.freeAt < best.freeAt) best = s;
    return best;
  }

  /** The next time after `t` a model with jobs left becomes ready; Infinity when none will. */
  private nextReadyAfter(t: number): number {
    let next = Infinity;
    for (const [modelId, at] of this.input.readyAt) {
      const model = this.modelIndex.get(modelId);
      if (at > t && at < next && model !== undefined && this.left[model]! > 0) next = at;
    }
    return next;
  }

  private rank(lane: Lane, job: ForecastJob, t: number): number {
    return this.agingMs > 0 ? agedRank(lane.rank, job.queuedAt, t, this.input.agingSeconds) : lane.rank;
  }

  /**
   * The rank of lane `i`'s next job at `t`, recomputed only when it may have aged a level since (forecast time only
   * moves forward) or the lane's next job changed; within a millisecond of a level's end it is always recomputed.
   */
  private headRank(i: number, lane: Lane, job: ForecastJob, t: number): number {
    if (t < this.headRankUntil[i]! - 1) return this.headRanks[i]!;
    const rank = this.rank(lane, job, t);
    this.headRanks[i] = rank;
    if (this.agingMs <= 0 || rank === 0) this.headRankUntil[i] = Infinity;
    else this.headRankUntil[i] = job.queuedAt + (Math.floor(Math.max(0, t - job.queuedAt) / this.agingMs) + 1) * this.agingMs;
    return rank;
  }

  /** Whether `a` goes before `b` at `t`: compareQueueOrder's order, with ranks computed once per comparison. */
  private before(a: ForecastJob, ra: number, b: ForecastJob, rb: number): boolean {
    if (ra !== rb) return ra < rb;
    if (a.queuedAt !== b.queuedAt) return a.queuedAt < b.queuedAt;
    return a.sequence < b.sequence;
  }

  /**
   * The job the slot claims at `t`, as the scheduler and the claim do: the queue's head, unless the model the slot
   * prefers (model-spread's choice, or the backend's first loaded model) has a job of the head's rank within the
   * choice's maxSkip jobs of the head; then its first such job.
   */
  private pick(slot: Slot, t: number): Lane | undefined {
    const readyAt = this.laneReadyAt[slot.backend]!;
    let head = -1;
    let headJob: ForecastJob | undefined;
    let headRank = 0;
    for (const i of this.active) {
      if (readyAt[i]! > t) continue;
      const lane = this.lanes[i]!;
      const job = lane.jobs[lane.next]!;
      const rank = this.headRank(i, lane, job, t);
      if (!headJob || this.before(job, rank, headJob, headRank)) {
        head = i;
        headJob = job;
        headRank = rank;
      }
    }
    if (head < 0) return undefined;
    const choice = this.choice(slot, t);
    const preferred = choice === undefined ? undefined : this.modelIndex.get(choice.modelId);
    const pref = preferred === undefined ? -1 : this.firstReadyLane(preferred, readyAt, t);
    if (pref < 0 || pref === head || this.headRanks[pref] !== this.headRanks[head]) return this.lanes[head];
    if (choice!.maxSkip === Infinity) return this.lanes[pref];
    const p = this.headOf(pref);
    const pRank = this.headRanks[pref]!;
    const maxSkip = Math.max(0, Math.floor(choice!.maxSkip));
    let before = 0;
    for (let i = 0; i < this.lanes.length && before <= maxSkip; i++) {
      const lane = this.lanes[i]!;
      if (lane.model === preferred || readyAt[i]! > t) continue;
      for (let k = lane.next; k < lane.jobs.length && before <= maxSkip; k++) {
        const job = lane.jobs[k]!;
        if (!this.before(job, k === lane.next ? this.headRanks[i]! : this.rank(lane, job, t), p, pRank)) break;
        before++;
      }
    }
    return this.lanes[before <= maxSkip ? pref : head];
  }

  /** The ready lane whose next job goes first among `model`'s lanes at `t` (its head ranks are current); -1 for none. */
  private firstReadyLane(model: number, readyAt: Float64Array, t: number): number {
    let first = -1;
    for (const i of this.active) {
      const lane = this.lanes[i]!;
      if (lane.model !== model || readyAt[i]! > t) continue;
      if (first < 0 || this.before(lane.jobs[lane.next]!, this.headRanks[i]!, this.headOf(first), this.headRanks[first]!)) first = i;
    }
    return first;
  }

  /** The model the slot prefers at `t`, as the scheduler asks the claim for it; undefined for the plain head. */
  private choice(slot: Slot, t: number): ModelChoice | undefined {
    const { affinity } = this.input;
    if (!affinity.enabled) return undefined;
    const resident = this.residentIds[slot.backend]!;
    if (!this.spread) return resident[0] === undefined ? undefined : { modelId: resident[0], maxSkip: affinity.maxSkip, reason: 'affinity' };
    const readyAt = this.modelReadyAt[slot.backend]!;
    for (let m = 0; m < this.demand.length; m++) {
      const d = this.demand[m]!;
      d.queued = readyAt[m]! > t ? 0 : this.left[m]!;
      d.running = 0;
    }
    for (const s of this.slots) if (s !== slot && s.model >= 0 && s.freeAt > t) this.demand[s.model]!.running++;
    return chooseModel({ resident, demand: this.demand, maxSkip: affinity.maxSkip });
  }

  private headOf(lane: number): ForecastJob {
    const l = this.lanes[lane]!;
    return l.jobs[l.next]!;
  }

  /** Runs the lane's next job on the slot from `t`; the slot is busy until it ends. */
  private dispatch(lane: Lane, slot: Slot, t: number): void {
    const job = lane.jobs[lane.next++]!;
    this.left[lane.model]!--;
    this.headRankUntil[lane.index] = -Infinity;
    if (lane.next === lane.jobs.length) this.active.splice(this.active.indexOf(lane.index), 1);
    const b = this.input.backends[slot.backend]!;
    const loaded = this.resident[slot.backend]!.some((r) => r.model === lane.model);
    const load = loaded ? NO_LOAD : b.loadTime(job.modelId);
    if (!loaded) this.loads++;
    this.touch(slot.backend, lane.model, t);
    const seconds = load.seconds + job.generationSeconds;
    this.totalSeconds += seconds;
    if (!load.learned) this.assumedSeconds += load.seconds;
    if (!job.learned) this.assumedSeconds += job.generationSeconds;
    const endAt = t + seconds * 1000;
    this.out.set(job.id, {
      jobId: job.id,
      backendId: b.id,
      startAt: t,
      endAt,
      loadSeconds: load.seconds,
      jobsAhead: this.dispatched++,
      loadsAhead: this.loads - (loaded ? 0 : 1),
      waitsForDownload: this.modelReadyAt[slot.backend]![lane.model] !== -Infinity,
      assumedShare: this.totalSeconds > 0 ? this.assumedSeconds / this.totalSeconds : 0,
    });
    slot.freeAt = endAt;
    slot.model = lane.model;
  }

  /** Marks a model used on a backend, loading it (and evicting the least recently used one) when needed. */
  private touch(backend: number, model: number, t: number): void {
    const list = this.resident[backend]!;
    const entry = list.find((r) => r.model === model);
    if (entry) {
      entry.lastUsedAt = t;
      return;
    }
    if (list.length >= this.capacity[backend]!) {
      let lru = 0;
      for (let i = 1; i < list.length; i++) if (list[i]!.lastUsedAt < list[lru]!.lastUsedAt) lru = i;
      list.splice(lru, 1);
    }
    list.push({ model, lastUsedAt: t });
    this.residentIds[backend] = list.map((r) => this.models[r.model]!);
  }
}

const NO_LOAD: LoadTime = { seconds: 0, learned: true };
const RANK_OF = Object.fromEntries(PRIORITIES.map((p, i) => [p, i])) as Record<Priority, number>;

function byAcceptance(a: ForecastJob, b: ForecastJob): number {
  return a.queuedAt - b.queuedAt || a.sequence - b.sequence;
}

function isSorted(jobs: readonly ForecastJob[]): boolean {
  for (let i = 1; i < jobs.length; i++) if (byAcceptance(jobs[i - 1]!, jobs[i]!) > 0) return false;
  return true;
}
