/**
 * Estimates that follow the job. After every change that can move them (a job accepted, started, finished, failed,
 * requeued or released; a model loaded; a download's status), the tracker plays the queue forward again
 * (core/queue-forecast.ts) and keeps each waiting or running job's current estimate. It sends `job.estimate` when
 * an estimate moves by more than 10 % of the time left and more than 5 s, puts the first promise on the job's
 * timeline, and on the job's end the final truth beside it. It also gives the planner a new request's wait.
 */
import { describeForecast, estimateMoved, DEFAULT_MOVE_THRESHOLD, type JobEstimate, type MoveThreshold } from '../core/job-estimate.js';
import { formatDuration, type ForecastWait } from '../core/estimates.js';
import { forecastDownloads } from '../core/download-forecast.js';
import { forecastQueue, type ForecastJob, type QueueForecastInput } from '../core/queue-forecast.js';
import { compareQueueOrder } from '../core/queue-ordering.js';
import { PREVIEW_MODEL_ID } from '../core/scoring.js';
import type { GenerationRequirements } from '../core/requirements.js';
import type { UnderstudyEvent } from './engine-events.js';
import { bytesToFetch, generationFigure, takeForecastSnapshot, type ForecastSnapshot, type ForecastSources } from './forecast-snapshot.js';
import type { Job } from './job.js';

/** What the tracker needs besides the snapshot's sources. */
export interface EstimateTrackerOptions extends ForecastSources {
  emit: (event: UnderstudyEvent) => void;
  /** When a moved estimate is sent (default more than 10 % of the time left and more than 5 s). */
  threshold?: MoveThreshold;
  /** Shortest time between two refreshes caused by download progress alone, ms (default 5000). */
  downloadRefreshMs?: number;
  /**
   * Most waiting jobs forecast (default 1000, where a forecast takes well under a millisecond). A refresh reads and
   * estimates only the first this many (plus one) queued jobs in claim order, and as many waiting for a model, so its
   * cost does not grow with the queue: jobs further back have no estimate until they move up. Beyond this many a new
   * request is not forecast on submit either (its estimate comes once it is among the first; the planner falls back to
   * the fixed per-position figure).
   */
  maxForecastJobs?: number;
  /**
   * Whether this process writes the final truth of `job` on its timeline (default: always). In a cluster every
   * gateway sees every job end; only the worker that ran it writes, so the entry is there once.
   */
  recordsOutcomeOf?: (job: Job) => boolean;
  /**
   * Only write the final truth of the jobs that end here (default false). A worker serves no API: the gateways
   * estimate on the whole cluster and announce `job.estimate`; a worker's own estimates, on its backends alone, would
   * reach their WebSockets beside them and write a second first promise.
   */
  outcomesOnly?: boolean;
}

/** Jobs remembered as ended (so that a late admission or a refresh under way cannot bring back their estimate). */
const ENDED_KEPT = 10_000;

/**
 * A refresh that took longer than this (real ms) delays the next by {@link REFRESH_BACKOFF} times its duration, or
 * {@link LONG_QUEUE_BACKOFF} times beyond maxForecastJobs, so re-estimating takes at most a fifth (a twentieth) of
 * the event loop.
 */
const SLOW_REFRESH_MS = 20;
const REFRESH_BACKOFF = 4;
const LONG_QUEUE_BACKOFF = 20;

const REFRESH_ON: ReadonlySet<UnderstudyEvent['type']> = new Set([
  'job.accepted',
  'job.waiting',
  'job.started',
  'job.succeeded',
  'job.failed',
  'job.cancelled',
  'job.expired',
  'job.requeued',
  'job.released',
  'job.replanned',
  'model.status',
  'model.loaded',
  'model.unloaded',
]);

/** The estimates of every waiting and running job, kept current. */
export class EstimateTracker {
  private readonly current = new Map<string, JobEstimate>();
  private readonly told = new Map<string, JobEstimate>();
  /** The last jobs that ended, oldest first: neither a refresh under way nor a late admission brings them back. */
  private readonly ended = new Set<string>();
  private running: Promise<void> | undefined;
  private dirty = false;
  private scheduled = false;
  private lastDownloadRefresh = -Infinity;
  private stopped = false;
  /**
   * The last snapshot read, and the jobs accepted since: refreshes and new requests are forecast on these, without a
   * read, until something changes that the tracker only learns from the store (`stale`). `changed`: jobs were
   * admitted since the last forecast.
   */
  private cached: ForecastSnapshot | undefined;
  private admitted: ForecastJob[] = [];
  private stale = true;
  private changed = false;
  private lastRefreshMs = 0;
  /** The last new request forecast by {@link forecastWait}: a job admitted right after it in the same state reuses it. */
  private lastProbe: { key: string; estimate: JobEstimate } | undefined;

  constructor(private readonly options: EstimateTrackerOptions) {}

  /** The current estimate of a waiting or running job; undefined for a finished or unknown one. */
  estimateOf(jobId: string): JobEstimate | undefined {
    return this.current.get(jobId);
  }

  /** Feeds an engine event: refreshes after the ones that can move estimates, and records the truth at a job's end. */
  observe(event: UnderstudyEvent): void {
    if (this.stopped) return;
    if (event.type === 'job.succeeded' || event.type === 'job.failed') void this.recordOutcome(event.jobId, event.at, event.type === 'job.succeeded');
    if (event.type === 'job.succeeded' || event.type === 'job.failed' || event.type === 'job.cancelled' || event.type === 'job.expired') {
      this.current.delete(event.jobId);
      this.told.delete(event.jobId);
      this.rememberEnded(event.jobId);
    }
    if (this.options.outcomesOnly) return;
    if (event.type === 'download.progress') {
      if (event.at - this.lastDownloadRefresh < (this.options.downloadRefreshMs ?? 5000)) return;
      this.lastDownloadRefresh = event.at;
    } else if (!REFRESH_ON.has(event.type)) return;
    // A job accepted here is admitted (see admit), so the tracker knows it without a read; other changes need one.
    if (event.type !== 'job.accepted') this.stale = true;
    this.schedule();
  }

  /** Re-reads the queue and re-estimates every job now (after any refresh under way); resolves once estimates and events are out. */
  refresh(): Promise<void> {
    this.stale = true;
    return this.run();
  }

  private run(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.dirty = false;
        await this.refreshOnce().catch(() => undefined);
      } while (this.dirty && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * A new request's wait for each model as the queue forecast plays it: the request joins the queue now with its
   * priority and settings. Undefined for a model no backend will run, or when the queue is too long to forecast on
   * every submit (see maxForecastJobs).
   */
  async forecastWait(requirements: GenerationRequirements): Promise<(modelId: string) => ForecastWait | undefined> {
    const snapshot = await this.snapshot();
    const cache = new Map<string, ForecastWait | undefined>();
    return (modelId) => {
      if (!cache.has(modelId)) cache.set(modelId, this.probe(snapshot, modelId, requirements));
      return cache.get(modelId);
    };
  }

  /**
   * A job just accepted: forecast it on the last snapshot (no store read), make that its first estimate, send it and
   * put it on the timeline. Returns the estimate, or undefined when the queue is too long to forecast per submit.
   */
  async admit(job: Job): Promise<JobEstimate | undefined> {
    const snapshot = await this.snapshot();
    const modelId = job.waitingFor ?? job.modelUsed;
    const figure = generationFigure(this.options, modelId, job.request.requirements);
    const entry: ForecastJob = { id: job.id, modelId, generationSeconds: figure.seconds, learned: figure.learned, priority: job.priority, queuedAt: job.createdAt, sequence: job.sequence };
    const now = this.options.clock.now();
    if (snapshot.cut) {
      // Only the head of a long queue is estimated: a job behind its last moves none of those estimates.
      const last = snapshot.lastQueued;
      if (!last || compareQueueOrder(entry, last, now, this.options.agingSeconds) < 0) this.markStale();
      return undefined;
    }
    this.admitted.push(entry);
    this.changed = true;
    if (!this.forecastable(snapshot)) {
      this.markStale();
      return undefined;
    }
    this.schedule();
    const probed = this.lastProbe?.key === this.probeKey(snapshot, modelId, job.priority, figure.seconds, this.admitted.length - 1) ? { ...this.lastProbe.estimate, estimatedAt: now } : undefined;
    const estimate =
      probed ??
      describeForecast(forecastQueue(this.inputFrom(snapshot, [], this.readyAtWith(snapshot, modelId))).jobs.get(job.id), {
        now,
        generation: figure,
        downloadMeasured: snapshot.measuredDownloads.has(modelId),
        slots: snapshot.slots,
      });
    if (this.ended.has(job.id) || this.told.has(job.id)) return this.current.get(job.id) ?? estimate;
    this.current.set(job.id, estimate);
    this.tell(job.id, estimate, now);
    void this.recordPromise(job.id, estimate);
    return estimate;
  }

  /** Stops refreshing (the engine is closing); resolves once a refresh under way is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /**
   * Asks for a refresh soon, sharing one with the other requests of this turn. A slow refresh (a long queue to read)
   * delays the next (see SLOW_REFRESH_MS).
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      if (!this.stopped) void this.run();
    };
    const backoff = this.cached && !this.forecastable(this.cached) ? LONG_QUEUE_BACKOFF : REFRESH_BACKOFF;
    if (this.lastRefreshMs > SLOW_REFRESH_MS) setTimeout(run, this.lastRefreshMs * backoff).unref();
    else setImmediate(run);
  }

  /** What a probe's forecast depends on: the same snapshot, job and jobs admitted give the same forecast. */
  private probeKey(snapshot: ForecastSnapshot, modelId: string, priority: string, seconds: number, admitted: number): string {
    return `${snapshot.input.now}|${modelId}|${priority}|${seconds}|${admitted}`;
  }

  /** The last snapshot, or a new one when there is none yet. */
  private async snapshot(): Promise<ForecastSnapshot> {
    this.cached ??= await this.read();
    return this.cached;
  }

  /** Reads a snapshot of the head of the queue (see maxForecastJobs); the jobs admitted before it are in it. */
  private async read(): Promise<ForecastSnapshot> {
    this.stale = false;
    const snapshot = await takeForecastSnapshot(this.options, this.maxForecastJobs() + 1);
    const inSnapshot = new Set(snapshot.jobs.keys());
    this.admitted = snapshot.cut ? [] : this.admitted.filter((j) => !inSnapshot.has(j.id) && !this.ended.has(j.id));
    return snapshot;
  }

  private markStale(): void {
    this.stale = true;
    this.schedule();
  }

  private maxForecastJobs(): number {
    return this.options.maxForecastJobs ?? 1000;
  }

  private forecastable(snapshot: ForecastSnapshot): boolean {
    return !snapshot.cut && snapshot.input.waiting.length + this.admitted.length <= this.maxForecastJobs();
  }

  private rememberEnded(jobId: string): void {
    this.ended.add(jobId);
    if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.values().next().value as string);
  }

  /** The snapshot's input at the current time, with the jobs accepted since it was read and `extra`. */
  private inputFrom(snapshot: ForecastSnapshot, extra: ForecastJob[], readyAt = snapshot.input.readyAt): QueueForecastInput {
    const known = new Set(snapshot.input.waiting.map((j) => j.id));
    const admitted = this.admitted.filter((j) => !known.has(j.id) && !this.ended.has(j.id));
    return { ...snapshot.input, now: this.options.clock.now(), waiting: [...snapshot.input.waiting, ...admitted, ...extra], readyAt };
  }

  /** When models become ready if `modelId`, not ready and not downloading, started downloading now too. */
  private readyAtWith(snapshot: ForecastSnapshot, modelId: string): ReadonlyMap<string, number> {
    const ready = snapshot.input.backends.some((b) => b.readyModels.has(modelId));
    if (ready || snapshot.input.readyAt.has(modelId) || modelId === PREVIEW_MODEL_ID) return snapshot.input.readyAt;
    const bytes = bytesToFetch(this.options, snapshot.availability, modelId);
    if (bytes === undefined) return snapshot.input.readyAt;
    return forecastDownloads([...snapshot.downloads, { modelId, bytesRemaining: bytes }], snapshot.downloadBytesPerSecond, this.options.clock.now());
  }

  private probe(snapshot: ForecastSnapshot, modelId: string, requirements: GenerationRequirements): ForecastWait | undefined {
    if (!this.forecastable(snapshot)) return undefined;
    const figure = generationFigure(this.options, modelId, requirements);
    const now = this.options.clock.now();
    const job: ForecastJob = {
      id: '\u0000new',
      modelId,
      generationSeconds: figure.seconds,
      learned: figure.learned,
      priority: requirements.priority,
      queuedAt: now,
      sequence: Number.MAX_SAFE_INTEGER,
    };
    const readyAtAll = this.readyAtWith(snapshot, modelId);
    const forecast = forecastQueue(this.inputFrom(snapshot, [job], readyAtAll)).jobs.get(job.id);
    if (!forecast) return undefined;
    const described = describeForecast(forecast, { now, generation: figure, downloadMeasured: snapshot.measuredDownloads.has(modelId), slots: snapshot.slots });
    this.lastProbe = { key: this.probeKey(snapshot, modelId, requirements.priority, figure.seconds, this.admitted.length), estimate: described };
    const readyAt = readyAtAll.get(modelId);
    return {
      // When its generation would start: after the jobs ahead and any model load.
      startInSeconds: Math.max(0, (forecast.endAt - now) / 1000 - figure.seconds),
      downloadSeconds: forecast.waitsForDownload && readyAt !== undefined ? Math.max(0, (readyAt - now) / 1000) : 0,
      jobsAhead: forecast.jobsAhead,
      confidence: described.confidence,
      factors: described.factors,
    };
  }

  /** Re-estimates every job: on a new snapshot when the store changed, else on the last one and the jobs admitted. */
  private async refreshOnce(): Promise<void> {
    if (!this.stale && !this.changed && this.cached) return;
    const started = performance.now();
    const snapshot = this.stale || !this.cached ? await this.read() : this.cached;
    this.cached = snapshot;
    this.changed = false;
    const input = this.inputFrom(snapshot, []);
    const { now } = input;
    const forecast = forecastQueue(input);
    const next = new Map<string, JobEstimate>();
    for (const job of input.waiting) {
      const generation = { seconds: job.generationSeconds, learned: job.learned };
      next.set(job.id, describeForecast(forecast.jobs.get(job.id), { now, generation, downloadMeasured: snapshot.measuredDownloads.has(job.modelId), slots: snapshot.slots }));
    }
    for (const [id, ends] of snapshot.runningEnds) {
      const job = snapshot.jobs.get(id)!;
      const generation = snapshot.generation.get(id)!;
      const startedAt = job.timeline.findLast((e) => e.kind === 'started')?.at ?? job.updatedAt;
      next.set(id, { estimatedAt: now, startAt: startedAt, resultAt: ends, confidence: generation.learned ? 'high' : 'medium', factors: [`running; generation about ${formatDuration(generation.seconds)}`] });
    }
    if (this.stopped) return;
    // Jobs no longer estimated (ended elsewhere, or behind the head of a long queue) have no current estimate.
    for (const id of this.current.keys()) {
      if (next.has(id)) continue;
      this.current.delete(id);
      this.told.delete(id);
    }
    for (const [id, estimate] of next) {
      if (this.ended.has(id)) continue;
      this.current.set(id, estimate);
      const previous = this.told.get(id);
      if (previous && !estimateMoved(previous, estimate, this.options.threshold ?? DEFAULT_MOVE_THRESHOLD)) continue;
      this.tell(id, estimate, now);
      const promised = snapshot.jobs.get(id)?.timeline.some((e) => e.kind === 'estimate') ?? false;
      if (!previous && !promised) void this.recordPromise(id, estimate);
    }
    this.lastRefreshMs = performance.now() - started;
  }

  private tell(jobId: string, estimate: JobEstimate, now: number): void {
    this.told.set(jobId, estimate);
    this.options.emit({
      type: 'job.estimate',
      at: now,
      jobId,
      startAt: estimate.startAt,
      resultAt: estimate.resultAt,
      confidence: estimate.confidence,
      message: describe(estimate, now),
    });
  }

  private async recordPromise(jobId: string, estimate: JobEstimate): Promise<void> {
    await this.options.store
      .appendTimeline(jobId, {
        kind: 'estimate',
        at: estimate.estimatedAt,
        message: `first promise: ${describe(estimate, estimate.estimatedAt)}`,
        data: { first: true, startAt: estimate.startAt, resultAt: estimate.resultAt, confidence: estimate.confidence, factors: estimate.factors },
      })
      .catch(() => undefined);
  }

  /** Puts the final truth on the timeline beside the first promise and the last estimate. */
  private async recordOutcome(jobId: string, at: number, succeeded: boolean): Promise<void> {
    const last = this.told.get(jobId);
    const job = await this.options.store.get(jobId).catch(() => null);
    const first = job?.timeline.find((e) => e.kind === 'estimate' && e.data?.first === true);
    const promised = typeof first?.data?.resultAt === 'number' ? first.data.resultAt : undefined;
    if (!job || promised === undefined) return;
    if (this.options.recordsOutcomeOf && !this.options.recordsOutcomeOf(job)) return;
    const promisedSeconds = (promised - job.createdAt) / 1000;
    const actualSeconds = (at - job.createdAt) / 1000;
    const error = promisedSeconds > 0 ? (actualSeconds - promisedSeconds) / promisedSeconds : 0;
    await this.options.store
      .appendTimeline(jobId, {
        kind: 'estimate',
        at,
        message:
          `${succeeded ? 'result' : 'ended'} after ${formatDuration(actualSeconds)}; first promised ${formatDuration(promisedSeconds)} ` +
          `(${error >= 0 ? '+' : ''}${Math.round(error * 100)} %)` +
          (last?.resultAt ? `, last estimate ${formatDuration((last.resultAt - job.createdAt) / 1000)}` : ''),
        data: { final: true, actualAt: at, promisedResultAt: promised, lastResultAt: last?.resultAt ?? null, succeeded },
      })
      .catch(() => undefined);
  }
}

function describe(estimate: JobEstimate, now: number): string {
  if (estimate.startAt === null || estimate.resultAt === null) return 'no estimate: nothing can run it as things stand';
  const start = estimate.startAt === now ? 'starts now' : estimate.startAt < now ? 'started' : `starts in about ${formatDuration((estimate.startAt - now) / 1000)}`;
  return `${start}, result in about ${formatDuration(Math.max(0, (estimate.resultAt - now) / 1000))} (${estimate.confidence} confidence)`;
}
