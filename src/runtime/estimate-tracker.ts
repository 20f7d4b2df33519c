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
   * Above this many waiting jobs a new request is not forecast on submit (its estimate comes with the next refresh,
   * the planner falls back to the fixed per-position figure), so submits stay cheap on huge queues (default 1000,
   * where a forecast takes well under a millisecond).
   */
  maxForecastJobs?: number;
}

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
  /** Jobs that ended since the last snapshot was read: a refresh under way must not bring them back. */
  private readonly ended = new Set<string>();
  private running: Promise<void> | undefined;
  private dirty = false;
  private scheduled = false;
  private lastDownloadRefresh = -Infinity;
  private stopped = false;
  /** The last snapshot read, and the jobs accepted since (new requests are forecast on these, without a read). */
  private cached: ForecastSnapshot | undefined;
  private admitted: ForecastJob[] = [];
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
      this.ended.add(event.jobId);
    }
    if (event.type === 'download.progress') {
      if (event.at - this.lastDownloadRefresh < (this.options.downloadRefreshMs ?? 5000)) return;
      this.lastDownloadRefresh = event.at;
    } else if (!REFRESH_ON.has(event.type)) return;
    this.schedule();
  }

  /** Re-estimates every job now (after any refresh under way); resolves once estimates and events are out. */
  refresh(): Promise<void> {
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
    this.admitted.push(entry);
    this.schedule();
    if (!this.forecastable(snapshot)) return undefined;
    const now = this.options.clock.now();
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
      if (!this.stopped) void this.refresh();
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
    this.cached ??= await takeForecastSnapshot(this.options);
    return this.cached;
  }

  private forecastable(snapshot: ForecastSnapshot): boolean {
    return snapshot.input.waiting.length + this.admitted.length <= (this.options.maxForecastJobs ?? 1000);
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

  private async refreshOnce(): Promise<void> {
    const started = performance.now();
    const snapshot = await takeForecastSnapshot(this.options);
    this.cached = snapshot;
    const inSnapshot = new Set(snapshot.jobs.keys());
    this.admitted = this.admitted.filter((j) => !inSnapshot.has(j.id) && !this.ended.has(j.id));
    const { now } = snapshot.input;
    const forecast = forecastQueue(snapshot.input);
    const next = new Map<string, JobEstimate>();
    for (const [id, job] of snapshot.jobs) {
      const generation = snapshot.generation.get(id)!;
      const ends = snapshot.runningEnds.get(id);
      if (ends !== undefined) {
        const startedAt = job.timeline.findLast((e) => e.kind === 'started')?.at ?? job.updatedAt;
        next.set(id, { estimatedAt: now, startAt: startedAt, resultAt: ends, confidence: generation.learned ? 'high' : 'medium', factors: [`running; generation about ${formatDuration(generation.seconds)}`] });
        continue;
      }
      const modelId = job.waitingFor ?? job.modelUsed;
      next.set(id, describeForecast(forecast.jobs.get(id), { now, generation, downloadMeasured: snapshot.measuredDownloads.has(modelId), slots: snapshot.slots }));
    }
    if (this.stopped) return;
    for (const id of this.ended) if (!snapshot.jobs.has(id)) this.ended.delete(id);
    for (const [id, estimate] of next) {
      if (this.ended.has(id)) continue;
      this.current.set(id, estimate);
      const previous = this.told.get(id);
      if (previous && !estimateMoved(previous, estimate, this.options.threshold ?? DEFAULT_MOVE_THRESHOLD)) continue;
      this.tell(id, estimate, now);
      const job = snapshot.jobs.get(id)!;
      if (!previous && !job.timeline.some((e) => e.kind === 'estimate')) void this.recordPromise(id, estimate);
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
