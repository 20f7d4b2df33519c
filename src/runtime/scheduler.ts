import type { Clock, TimerHandle } from '../core/clock.js';
import { chooseModel, type ModelChoice } from '../core/model-spread.js';
import { PREVIEW_MODEL_ID } from '../core/scoring.js';
import type { Backend } from './backend.js';
import type { BackendAvailability } from './backend-availability.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { FallbackRecoverySystem } from './recovery/fallback-recovery-system.js';
import type { JobRunner } from './job-runner.js';
import { waitingForModelTotal, type JobStore } from './job-store.js';
import type { ModelDownloads } from './model-downloads.js';

/**
 * Model affinity: which model a free GPU slot takes. With `spread`, model-aware dispatch (core/model-spread.ts) keeps
 * GPUs on distinct loaded models and moves one only when a model with work has no GPU; otherwise (and
 * when spreading cannot decide) a job for the model already loaded goes first when that skips at most `maxSkip` jobs
 * of equal priority. Neither ever passes a more urgent job.
 */
export interface AffinityOptions {
  /** Default true. */
  enabled: boolean;
  /** Default 3: a 14B model swap costs tens of seconds, worth a short reordering. */
  maxSkip: number;
  /** Model-aware dispatch (default true). */
  spread: boolean;
}

/** What the scheduler needs. */
export interface SchedulerContext {
  store: JobStore;
  clock: Clock;
  /** GPU backends. */
  backends: readonly Backend[];
  /** Renders previews (mock_generation). */
  preview: Backend;
  availability: BackendAvailability;
  recovery: FallbackRecoverySystem;
  runner: JobRunner;
  /** Releases jobs waiting for a model that became ready; the scheduler wakes whenever it does. */
  downloads: ModelDownloads;
  /** Names this worker in leases, e.g. `host-1234`. */
  owner: string;
  affinity: AffinityOptions;
  /** Housekeeping period: expiry, lapsed leases, released waits, milliseconds (default 1000). */
  tickMs: number;
  /**
   * Whether this scheduler claims jobs for its backends (default true). A gateway without a worker only keeps house:
   * expiry, lapsed leases and released waits, which are idempotent when several processes do them.
   */
  claim?: boolean;
  emit: (event: UnderstudyEvent) => void;
  /** Tells other workers that jobs of a model became claimable (requeued, released); default: no one else to tell. */
  signalWork?: (modelId: string) => Promise<void>;
}

/**
 * Hands queued jobs to free backend slots when their model is ready, in queue order (priority, aging, FIFO) with
 * bounded model affinity; releases jobs waiting for a model once it is available; expires jobs past their deadline;
 * requeues jobs whose lease lapsed.
 */
export class Scheduler {
  private readonly running = new Map<string, { backend: Backend; modelId: string; done: Promise<void> }>();
  private readonly stop = new AbortController();
  private timer: TimerHandle | undefined;
  private pumping = false;
  private pumpAgain = false;
  private wakeScheduled = false;
  private accepting = true;
  private idleWaiters: Array<() => void> = [];
  private lastClaim: number | null = null;

  constructor(private readonly ctx: SchedulerContext) {
    ctx.downloads.onReleased(({ modelId, jobs }) => {
      this.wake();
      if (jobs.length > 0) this.signal(modelId);
    });
  }

  /**
   * Starts the housekeeping tick and a first pass. Jobs a previous process left running are requeued as soon as
   * their lease lapses (leases are short), so a restart never waits for, nor steals from, a live worker.
   */
  async start(): Promise<void> {
    await this.housekeeping();
    this.scheduleTick();
  }

  /**
   * Asks for a scheduling pass soon (after a submit, a finished job, a model becoming ready); wakes in the same turn
   * of the event loop (a burst of submits) share one pass.
   */
  wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.pump().catch(retryLater);
    });
  }

  /** Tells the other workers, without waiting; a lost signal only delays them to their next tick. */
  private signal(modelId: string): void {
    this.ctx.signalWork?.(modelId).catch(() => undefined);
  }

  /** Resolves when nothing is running and no queued job can start. */
  onIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.wake();
    });
  }

  /** Number of jobs running now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Number of jobs running now on the backend with id `backendId` (its busy slots). */
  busyOn(backendId: string): number {
    let busy = 0;
    for (const r of this.running.values()) if (r.backend.id === backendId) busy++;
    return busy;
  }

  /** Clock time of the last job this scheduler claimed, null before the first. */
  get lastClaimAt(): number | null {
    return this.lastClaim;
  }

  /**
   * Stops claiming, lets running jobs finish within `graceMs` (real time), then aborts the rest, which are given
   * back to the queue for the next start.
   */
  async close(graceMs: number): Promise<void> {
    this.accepting = false;
    if (this.timer) this.ctx.clock.clearTimeout(this.timer);
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    let graceTimer: NodeJS.Timeout | undefined;
    // A real timer, and a ref'd one: the process must stay up for the grace period while jobs finish.
    const grace = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, graceMs);
    });
    await Promise.race([all, grace]);
    clearTimeout(graceTimer);
    this.stop.abort(new Error('engine shutting down'));
    await all;
  }

  private scheduleTick(): void {
    if (!this.accepting) return;
    this.timer = this.ctx.clock.setTimeout(() => {
      this.housekeeping()
        .catch(retryLater)
        .finally(() => this.scheduleTick());
    }, this.ctx.tickMs);
  }

  /** Expiry, lapsed leases, and waits whose model is now available; then a scheduling pass. */
  private async housekeeping(): Promise<void> {
    const { store, clock, emit, availability, downloads } = this.ctx;
    const now = clock.now();
    for (const job of await store.expireDue(now)) {
      emit({ type: 'job.expired', at: now, jobId: job.id, status: job.status, model: job.modelUsed, message: job.error?.message ?? 'expired' });
    }
    for (const job of await store.recoverLapsedLeases(now)) {
      emit({ type: job.status === 'failed' ? 'job.failed' : 'job.requeued', at: now, jobId: job.id, status: job.status, model: job.modelUsed, message: 'its lease lapsed' });
      if (job.status === 'queued') this.signal(job.modelUsed);
    }
    const snapshot = await store.queueSnapshot();
    const statuses = await availability.snapshot();
    for (const [modelId, counts] of Object.entries(snapshot.byModel)) {
      if (waitingForModelTotal(counts) === 0 || statuses.get(modelId)?.status !== 'available') continue;
      await downloads.release(modelId, now);
    }
    await this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        if (this.accepting && this.ctx.claim !== false) {
          for (const backend of [...this.ctx.backends, this.ctx.preview]) await this.fill(backend);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    if (this.running.size === 0) await this.notifyIdleIfNothingReady();
  }

  /** Claims jobs for `backend` until its slots are full or nothing it can run is queued. */
  private async fill(backend: Backend): Promise<void> {
    const { store, clock, affinity, recovery } = this.ctx;
    const isPreview = backend === this.ctx.preview;
    for (;;) {
      if (this.busyOn(backend.id) >= backend.slots) return;
      if (!isPreview && !recovery.isAvailable(backend.id)) return;
      const ready = isPreview ? new Set([PREVIEW_MODEL_ID]) : await this.ctx.availability.readyOn(backend);
      if (ready.size === 0) return;
      const readyModels = (m: string): boolean => ready.has(m) && (isPreview || recovery.isAvailable(backend.id, m));
      const prefer = affinity.enabled && !isPreview ? await this.preference(await backend.loadedModels(), readyModels) : undefined;
      const owner = `${this.ctx.owner}/${backend.id}`;
      const job = await store.claimNext({ owner, now: clock.now(), readyModels, ...(prefer ? { preferModel: prefer } : {}) });
      if (!job) return;
      this.lastClaim = clock.now();
      const done = this.ctx.runner
        .run(job, backend, owner, this.stop.signal)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(job.id);
          this.wake();
        });
      this.running.set(job.id, { backend, modelId: job.modelUsed, done });
    }
  }

  /**
   * The model a free slot of a GPU with `loaded` models asks the claim for: model-spread's choice from the queued jobs
   * per model it can run and the jobs running on the other slots (any distance is the whole queue), or with spreading
   * off the first loaded model within maxSkip.
   */
  private async preference(loaded: readonly string[], ready: (modelId: string) => boolean): Promise<{ modelId: string; maxSkip: number } | undefined> {
    const { affinity, store, preview } = this.ctx;
    if (!affinity.spread) return loaded[0] === undefined ? undefined : { modelId: loaded[0], maxSkip: affinity.maxSkip };
    const snapshot = await store.queueSnapshot();
    const running = new Map<string, number>();
    for (const r of this.running.values()) if (r.backend !== preview) running.set(r.modelId, (running.get(r.modelId) ?? 0) + 1);
    const demand = Object.entries(snapshot.byModel)
      .filter(([modelId]) => ready(modelId))
      .map(([modelId, counts]) => ({ modelId, queued: Object.values(counts.queued).reduce((a, b) => a + b, 0), running: running.get(modelId) ?? 0 }));
    const choice: ModelChoice | undefined = chooseModel({ resident: loaded, demand, maxSkip: affinity.maxSkip });
    if (!choice) return undefined;
    return { modelId: choice.modelId, maxSkip: Number.isFinite(choice.maxSkip) ? choice.maxSkip : snapshot.total };
  }

  /** Idle means every accepted job has finished: nothing queued, waiting, or running here or under a lapsing lease. */
  private async notifyIdleIfNothingReady(): Promise<void> {
    if (this.idleWaiters.length === 0 || this.running.size > 0) return;
    const counts = await this.ctx.store.counts();
    if (counts.queued + counts.waiting_for_model + counts.running > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/**
 * What a failed pass or tick does: nothing more. A pass fails when the store cannot be reached (Redis restarting, a
 * locked SQLite file); the next tick, or the next wake, tries again, and nothing was changed by the half-done pass
 * (each store call is atomic). Left unhandled, the rejection would stop the process.
 */
function retryLater(): void {}
