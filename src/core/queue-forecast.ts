/**
 * Forecasts when every waiting job starts and ends by playing the queue forward as the scheduler would run it: jobs in
 * the scheduler's order (priority after aging, then first come first served; queue-ordering's agedRank), bounded model
 * affinity as the job store's claim applies it, each job's own generation time, model loads when a backend has to
 * swap, and models that become ready when their download ends. Pure and deterministic: fed a snapshot, no I/O.
 *
 * Cost: O(jobs × (slots + lanes × affinity window)); lanes are (model, priority) pairs, so a thousand queued jobs on
 * four backends take well under a millisecond (bench/estimates.ts).
 */
import { agedRank, type Orderable } from './queue-ordering.js';
import { priorityRank } from './vocabulary.js';

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
  modelId: string;
  /** The lane's priority rank, 0 = critical. */
  rank: number;
  jobs: ForecastJob[];
  next: number;
}

interface Slot {
  backend: number;
  freeAt: number;
}

interface Resident {
  modelId: string;
  lastUsedAt: number;
}

/** Plays the queue forward; see the module comment. */
export function forecastQueue(input: QueueForecastInput): QueueForecast {
  return new Forecaster(input).run();
}

class Forecaster {
  private readonly lanes: Lane[];
  private readonly slots: Slot[] = [];
  private readonly resident: Resident[][];
  private readonly capacity: number[];
  private readonly left = new Map<string, number>();
  private readonly agingMs: number;
  private readonly out = new Map<string, JobForecast>();
  private dispatched: number;
  private loads = 0;
  private totalSeconds = 0;
  private assumedSeconds = 0;
  /** By backend, then lane: epoch ms the lane's model is ready there (-Infinity: now; Infinity: never). */
  private readonly laneReadyAt: Float64Array[];
  /** Per lane, the rank of its next job at the current pick. */
  private readonly headRanks: Int32Array;

  constructor(private readonly input: QueueForecastInput) {
    this.agingMs = input.agingSeconds > 0 ? input.agingSeconds * 1000 : 0;
    const byModel = new Map<string, Lane[]>();
    this.lanes = [];
    for (const job of input.waiting) {
      let lanes = byModel.get(job.modelId);
      if (!lanes) byModel.set(job.modelId, (lanes = []));
      const rank = priorityRank(job.priority);
      let lane = lanes[rank];
      if (!lane) this.lanes.push((lane = lanes[rank] = { modelId: job.modelId, rank, jobs: [], next: 0 }));
      lane.jobs.push(job);
      this.left.set(job.modelId, (this.left.get(job.modelId) ?? 0) + 1);
    }
    for (const lane of this.lanes) lane.jobs.sort((a, b) => a.queuedAt - b.queuedAt || a.sequence - b.sequence);
    this.headRanks = new Int32Array(this.lanes.length);
    this.laneReadyAt = input.backends.map(
      (b) =>
        new Float64Array(
          this.lanes.map((l) => (b.readyModels.has(l.modelId) ? -Infinity : b.takesDownloads === false ? Infinity : (input.readyAt.get(l.modelId) ?? Infinity))),
        ),
    );
    this.resident = input.backends.map((b) => b.loadedModels.map((modelId) => ({ modelId, lastUsedAt: input.now })));
    this.capacity = input.backends.map((b) => b.modelCapacity ?? Math.max(1, b.loadedModels.length));
    const busy = new Map<string, number[]>();
    for (const r of input.running) {
      const list = busy.get(r.backendId) ?? [];
      list.push(Math.max(input.now, r.endsAt));
      busy.set(r.backendId, list);
    }
    input.backends.forEach((backend, index) => {
      const ends = (busy.get(backend.id) ?? []).sort((a, b) => a - b);
      for (let s = 0; s < backend.slots; s++) this.slots.push({ backend: index, freeAt: ends[s] ?? input.now });
      for (const r of input.running) if (r.backendId === backend.id) this.touch(index, r.modelId, input.now);
    });
    this.dispatched = input.running.length;
  }

  run(): QueueForecast {
    let remaining = this.input.waiting.length;
    while (remaining > 0) {
      const slot = this.earliestSlot();
      if (!slot || slot.freeAt === Infinity) break;
      const t = Math.max(this.input.now, slot.freeAt);
      const job = this.pick(slot.backend, t);
      if (!job) {
        slot.freeAt = this.nextReadyAfter(t);
        continue;
      }
      remaining--;
      slot.freeAt = this.dispatch(job, slot.backend, t);
    }
    const unreachable = this.input.waiting.filter((j) => !this.out.has(j.id)).map((j) => j.id);
    return { jobs: this.out, unreachable };
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
      if (at > t && at < next && (this.left.get(modelId) ?? 0) > 0) next = at;
    }
    return next;
  }

  private rank(lane: Lane, job: ForecastJob, t: number): number {
    return this.agingMs > 0 ? agedRank(lane.rank, job.queuedAt, t, this.input.agingSeconds) : lane.rank;
  }

  /** Whether `a` goes before `b` at `t`: compareQueueOrder's order, with ranks computed once per comparison. */
  private before(a: ForecastJob, ra: number, b: ForecastJob, rb: number): boolean {
    if (ra !== rb) return ra < rb;
    if (a.queuedAt !== b.queuedAt) return a.queuedAt < b.queuedAt;
    return a.sequence < b.sequence;
  }

  /**
   * The job the backend claims at `t`, as the claim does: the queue's head, unless the first job for the backend's
   * preferred model has the head's rank and at most `maxSkip` ready jobs before it.
   */
  private pick(backend: number, t: number): Lane | undefined {
    const readyAt = this.laneReadyAt[backend]!;
    const preferred = this.input.affinity.enabled ? this.resident[backend]![0]?.modelId : undefined;
    let head = -1;
    let pref = -1;
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = this.lanes[i]!;
      const job = lane.jobs[lane.next];
      if (!job || readyAt[i]! > t) continue;
      const rank = this.rank(lane, job, t);
      this.headRanks[i] = rank;
      if (head < 0 || this.before(job, rank, this.headOf(head), this.headRanks[head]!)) head = i;
      if (lane.modelId === preferred && (pref < 0 || this.before(job, rank, this.headOf(pref), this.headRanks[pref]!))) pref = i;
    }
    if (head < 0) return undefined;
    if (pref < 0 || pref === head || this.headRanks[pref] !== this.headRanks[head]) return this.lanes[head];
    const p = this.headOf(pref);
    const pRank = this.headRanks[pref]!;
    const maxSkip = Math.max(0, Math.floor(this.input.affinity.maxSkip));
    let before = 0;
    for (let i = 0; i < this.lanes.length && before <= maxSkip; i++) {
      const lane = this.lanes[i]!;
      if (lane.modelId === preferred || readyAt[i]! > t) continue;
      for (let k = lane.next; k < lane.jobs.length && before <= maxSkip; k++) {
        const job = lane.jobs[k]!;
        if (!this.before(job, k === lane.next ? this.headRanks[i]! : this.rank(lane, job, t), p, pRank)) break;
        before++;
      }
    }
    return this.lanes[before <= maxSkip ? pref : head];
  }

  private headOf(lane: number): ForecastJob {
    const l = this.lanes[lane]!;
    return l.jobs[l.next]!;
  }

  /** Runs the lane's head on `backend` from `t`; returns when the slot is free again. */
  private dispatch(lane: Lane, backend: number, t: number): number {
    const job = lane.jobs[lane.next++]!;
    this.left.set(job.modelId, this.left.get(job.modelId)! - 1);
    const b = this.input.backends[backend]!;
    const loaded = this.resident[backend]!.some((r) => r.modelId === job.modelId);
    const load = loaded ? { seconds: 0, learned: true } : b.loadTime(job.modelId);
    if (!loaded) this.loads++;
    this.touch(backend, job.modelId, t);
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
      waitsForDownload: !b.readyModels.has(job.modelId),
      assumedShare: this.totalSeconds > 0 ? this.assumedSeconds / this.totalSeconds : 0,
    });
    return endAt;
  }

  /** Marks a model used on a backend, loading it (and evicting the least recently used one) when needed. */
  private touch(backend: number, modelId: string, t: number): void {
    const list = this.resident[backend]!;
    const entry = list.find((r) => r.modelId === modelId);
    if (entry) {
      entry.lastUsedAt = t;
      return;
    }
    if (list.length >= this.capacity[backend]!) {
      let lru = 0;
      for (let i = 1; i < list.length; i++) if (list[i]!.lastUsedAt < list[lru]!.lastUsedAt) lru = i;
      list.splice(lru, 1);
    }
    list.push({ modelId, lastUsedAt: t });
  }
}
