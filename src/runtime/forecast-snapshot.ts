/**
 * Reads what the queue forecast is fed from the engine as it is now: waiting jobs from the store, running jobs and
 * where they run, each backend's slots, loaded and ready models, downloads under way and the link's measured speed,
 * and the learned times. The forecast itself (core/queue-forecast.ts) is pure; this is its only I/O.
 */
import type { AvailabilitySnapshot } from '../core/availability.js';
import type { Catalog } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import { forecastDownloads, type ForecastDownload } from '../core/download-forecast.js';
import { GIB, type EstimationConfig, type GenerationSettings } from '../core/estimates.js';
import { generationTime, loadTime } from '../core/job-estimate.js';
import type { EstimateLearner } from '../core/learner.js';
import type { ForecastBackend, ForecastJob, ForecastRunningJob, QueueForecastInput } from '../core/queue-forecast.js';
import type { GenerationRequirements } from '../core/requirements.js';
import { PREVIEW_MODEL_ID } from '../core/scoring.js';
import type { Backend } from './backend.js';
import type { BackendAvailability } from './backend-availability.js';
import type { Job } from './job.js';
import type { JobStore } from './job-store.js';
import type { AffinityOptions } from './scheduler.js';

/** What a snapshot is read from. */
export interface ForecastSources {
  store: JobStore;
  clock: Clock;
  catalog: Catalog;
  estimation: EstimationConfig;
  learner: EstimateLearner;
  backends: readonly Backend[];
  /** Renders previews; its jobs are forecast on it. */
  preview?: Backend;
  availability: BackendAvailability;
  agingSeconds: number;
  affinity: AffinityOptions;
}

/** A snapshot: the forecast's input and what describing its results needs. */
export interface ForecastSnapshot {
  input: QueueForecastInput;
  /** Waiting and running jobs by id. */
  jobs: Map<string, Job>;
  /** Generation figure of every waiting and running job. */
  generation: Map<string, { seconds: number; learned: boolean }>;
  /** Models whose download goes at a measured speed. */
  measuredDownloads: Set<string>;
  /** Epoch ms each running job is expected to end. */
  runningEnds: Map<string, number>;
  slots: number;
  availability: AvailabilitySnapshot;
  /** Throughput of the download link the forecast assumed, bytes per second. */
  downloadBytesPerSecond: number;
  /** The downloads under way (or about to start) the forecast shares the link between. */
  downloads: ForecastDownload[];
  /** Whether the queue was longer than the read's limit: then only its head (in claim order) is in the snapshot. */
  cut: boolean;
  /** The last queued job read, in claim order. */
  lastQueued: ForecastJob | undefined;
}

/** Seconds a preview takes until measured (the preview renderer writes a small labelled GIF). */
const PREVIEW_SECONDS = 1;

/** Bytes a download of `modelId` that starts now must fetch: what is left of a partial one, else the whole model. */
export function bytesToFetch(src: ForecastSources, availability: AvailabilitySnapshot, modelId: string): number | undefined {
  const model = src.catalog.byId.get(modelId);
  if (!model) return undefined;
  const status = availability.get(modelId);
  const total = status?.bytesTotal ?? model.sizeGb * GIB;
  const keeps = status && ['downloading', 'verifying', 'partial', 'paused'].includes(status.status);
  return Math.max(0, total - (keeps ? (status.bytesPresent ?? 0) : 0));
}

/** Settings of a job's current plan. */
export function settingsOf(requirements: GenerationRequirements): GenerationSettings {
  const settings: GenerationSettings = { resolution: requirements.resolution, quality: requirements.quality };
  if (requirements.numFrames !== undefined) settings.numFrames = requirements.numFrames;
  if (requirements.steps !== undefined) settings.steps = requirements.steps;
  return settings;
}

/** The generation figure of `modelId` with `requirements`: learned or catalog, previews a second. */
export function generationFigure(src: ForecastSources, modelId: string, requirements: GenerationRequirements): { seconds: number; learned: boolean } {
  const model = src.catalog.byId.get(modelId);
  if (!model) return { seconds: PREVIEW_SECONDS, learned: modelId === PREVIEW_MODEL_ID };
  return generationTime(model, settingsOf(requirements), src.estimation, src.learner);
}

/**
 * Reads a snapshot, with at most `limit` queued jobs and `limit` jobs waiting for a model (the first in claim order;
 * default all). Downloads under way share the link; models that waiting jobs need and that are neither ready nor
 * downloading count as downloads starting now (the plan that made them wait starts one).
 */
export async function takeForecastSnapshot(src: ForecastSources, limit?: number): Promise<ForecastSnapshot> {
  const now = src.clock.now();
  const bound = limit === undefined ? {} : { limit };
  const [queued, waitingForModel, running, availability] = await Promise.all([
    src.store.listQueue({ status: 'queued', now, ...bound }),
    src.store.listQueue({ status: 'waiting_for_model', now, ...bound }),
    src.store.list({ status: 'running', limit: 1000 }),
    src.availability.snapshot(),
  ]);
  const gpus = await Promise.all(
    src.backends.map(async (b) => ({ backend: b, loaded: await b.loadedModels().catch(() => []), ready: await src.availability.readyOn(b).catch(() => new Set<string>()) })),
  );
  const jobs = new Map<string, Job>();
  const generation = new Map<string, { seconds: number; learned: boolean }>();
  const waiting: ForecastJob[] = [];
  const wanted = new Set<string>();
  for (const job of [...queued, ...waitingForModel]) {
    const modelId = job.waitingFor ?? job.modelUsed;
    const figure = generationFigure(src, modelId, job.request.requirements);
    jobs.set(job.id, job);
    generation.set(job.id, figure);
    wanted.add(modelId);
    waiting.push({ id: job.id, modelId, generationSeconds: figure.seconds, learned: figure.learned, priority: job.priority, queuedAt: job.createdAt, sequence: job.sequence });
  }

  const downloads: ForecastDownload[] = [];
  const measuredDownloads = new Set<string>();
  let measuredRate = 0;
  const readyAnywhere = new Set(gpus.flatMap((g) => [...g.ready]));
  // A download under way uses the link whether or not a job waits for it.
  for (const [modelId, status] of availability) if (status.status === 'downloading' || status.status === 'verifying') wanted.add(modelId);
  for (const modelId of wanted) {
    if (modelId === PREVIEW_MODEL_ID || readyAnywhere.has(modelId)) continue;
    const bytesRemaining = bytesToFetch(src, availability, modelId);
    if (bytesRemaining === undefined) continue;
    downloads.push({ modelId, bytesRemaining });
    const status = availability.get(modelId);
    if (status?.downloadBytesPerSecond && status.status === 'downloading') {
      measuredDownloads.add(modelId);
      measuredRate += status.downloadBytesPerSecond;
    }
  }
  // Downloads share one link: its throughput is what the running ones measure together, else what was learned.
  const downloadBytesPerSecond = measuredRate > 0 ? measuredRate : (src.learner.downloadBytesPerSecond?.mean ?? src.estimation.downloadBytesPerSecond);
  const readyAt = forecastDownloads(downloads, downloadBytesPerSecond, now);

  const backends: ForecastBackend[] = gpus.map(({ backend, loaded, ready }) => ({
    id: backend.id,
    slots: backend.slots,
    loadedModels: loaded,
    readyModels: ready,
    loadTime: (modelId: string) => {
      const model = src.catalog.byId.get(modelId);
      return model ? loadTime(model, backend.id, src.estimation, src.learner) : { seconds: 0, learned: true };
    },
  }));
  if (src.preview) {
    backends.push({
      id: src.preview.id,
      slots: src.preview.slots,
      loadedModels: [PREVIEW_MODEL_ID],
      readyModels: new Set([PREVIEW_MODEL_ID]),
      takesDownloads: false,
      loadTime: () => ({ seconds: 0, learned: true }),
    });
  }

  const runningJobs: ForecastRunningJob[] = [];
  const runningEnds = new Map<string, number>();
  for (const job of running.jobs) {
    const owner = job.lease?.owner ?? '';
    const backend = backends.find((b) => owner.endsWith(`/${b.id}`));
    if (!backend) continue;
    const figure = generationFigure(src, job.modelUsed, job.request.requirements);
    const startedAt = job.timeline.findLast((e) => e.kind === 'started')?.at ?? job.updatedAt;
    const loading = !backend.loadedModels.includes(job.modelUsed) ? backend.loadTime(job.modelUsed).seconds : 0;
    // Under way: what is left of its generation; not yet sampling: its load (if still loading) and all of it.
    const endsAt = job.progress > 0 ? now + figure.seconds * (1 - job.progress) * 1000 : Math.max(now, startedAt + loading * 1000) + figure.seconds * 1000;
    jobs.set(job.id, job);
    generation.set(job.id, figure);
    runningEnds.set(job.id, endsAt);
    runningJobs.push({ id: job.id, backendId: backend.id, modelId: job.modelUsed, endsAt });
  }

  return {
    input: { now, agingSeconds: src.agingSeconds, affinity: src.affinity, waiting, running: runningJobs, backends, readyAt },
    jobs,
    generation,
    measuredDownloads,
    runningEnds,
    slots: src.backends.reduce((n, b) => n + b.slots, 0),
    availability,
    downloadBytesPerSecond,
    downloads,
    cut: limit !== undefined && (queued.length >= limit || waitingForModel.length >= limit),
    lastQueued: waiting[queued.length - 1],
  };
}
