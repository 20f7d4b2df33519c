/**
 * Runs a trace through the real engine (planner, SQLite job store, scheduler, recovery, estimate tracker, simulated
 * GPUs behind one shared download link), built by its public factory on a {@link VirtualClock}, and records what
 * happened to every request: its first promise, the reference's fixed-method promise, the last estimate before it
 * started, when it started and ended; plus queue depth, busy GPUs and model loads over time.
 *
 * Policies: `understudy` is the engine as configured (priorities, aging, model-aware dispatch); `fifo` submits
 * every request at one priority with aging and affinity off (plain first come, first served); `fifo-affinity` is
 * FIFO with bounded model affinity on (a loaded model's job within affinityMaxSkip of the head).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedBackend } from '../adapters/simulated-backend.js';
import { seededRandom } from '../adapters/simulated-faults.js';
import { SimulatedLink } from '../adapters/simulated-link.js';
import { EstimationConfigSchema, GIB, catalogGenerationSeconds } from '../core/estimates.js';
import { createCatalog } from '../core/catalog.js';
import { PREVIEW_MODEL_ID } from '../core/scoring.js';
import type { Priority } from '../core/vocabulary.js';
import { createUnderstudy } from '../composition/create-understudy.js';
import type { UnderstudyEvent } from '../runtime/engine-events.js';
import { isTerminalJobState, type JobState } from '../runtime/job.js';
import { expandArrivals, type Arrival, type Trace } from './trace.js';
import { VirtualClock } from './virtual-clock.js';

export const POLICIES = ['understudy', 'fifo', 'fifo-affinity'] as const;
export type Policy = (typeof POLICIES)[number];

/** What happened to one request. Times are epoch ms on the virtual clock. */
export interface SimJob {
  id: string | null;
  arrival: Arrival;
  submittedAt: number;
  /** Why it was not accepted, when it was not. */
  rejected?: string;
  strategy?: string;
  /** Our first promise of its result. */
  promisedAt?: number;
  /** The reference's fixed method at the same moment: 300 s per position ahead for its model, 50 MiB/s, catalog seconds. */
  referenceAt?: number;
  /** Our estimate of its result just before it first started. */
  lastBeforeStartAt?: number;
  startedAt?: number;
  endedAt?: number;
  status?: JobState;
  isPreview?: boolean;
  /** The model it finally ran on. */
  modelUsed?: string;
  /** Seconds of generation (no model load) its final run took by the catalog: what the zero-swap bound counts. */
  generationSeconds?: number;
}

/** The state of the system at one moment. */
export interface SimSample {
  at: number;
  /** Queued plus waiting for a model. */
  waiting: number;
  /** GPU slots generating or loading. */
  busySlots: number;
}

export interface SimResult {
  trace: string;
  policy: Policy;
  startedAt: number;
  endedAt: number;
  gpuSlots: number;
  jobs: SimJob[];
  samples: SimSample[];
  /** Model loads; `seconds` is the model's size over its GPU's load speed. */
  loads: Array<{ at: number; backendId: string; modelId: string; seconds: number }>;
  estimateEvents: number;
  /** Real milliseconds the run took. */
  wallMs: number;
}

/** How to run. */
export interface RunOptions {
  /** Virtual seconds between samples (default 60). */
  sampleSeconds?: number;
  /** Give up this long after the last arrival, virtual hours (default 48). */
  drainHours?: number;
}

// A 1x1 PNG, for models that need an input image.
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const START = Date.UTC(2026, 0, 1, 8);

type JobEvent = Extract<UnderstudyEvent, { jobId: string }>;

/** Replays `trace` under `policy`; resolves with what happened. */
export async function runTrace(trace: Trace, policy: Policy, options: RunOptions = {}): Promise<SimResult> {
  const wallStart = performance.now();
  const dataDir = await mkdtemp(join(tmpdir(), `understudy-sim-${trace.name}-`));
  const clock = new VirtualClock(START);
  const random = seededRandom(trace.seed);
  const catalog = createCatalog();
  const estimation = EstimationConfigSchema.parse({});
  const onDisk = new Set(trace.installed);
  const link = new SimulatedLink(trace.downloads.MiBPerSecond * 1024 ** 2, clock);
  const backends = trace.backends.flatMap((b) =>
    Array.from(
      { length: b.count },
      (_, i) =>
        new SimulatedBackend(
          {
            id: b.count > 1 ? `${b.id}-${i}` : b.id,
            vramGb: b.vramGb,
            slots: b.slots,
            installed: [],
            loadGbPerSecond: b.loadGbPerSecond,
            residentShare: b.residentShare,
            faultProbabilities: trace.faults.probabilities,
            faultScript: trace.faults.script,
            output: { width: 32, maxFrames: 1 },
          },
          { clock, random, link, filesPresent: onDisk },
        ),
    ),
  );
  const loadSpeed = new Map(backends.map((b, i) => [b.id, trace.backends.flatMap((t) => Array.from({ length: t.count }, () => t.loadGbPerSecond))[i]!]));
  const engineConfig = trace.engine as Record<string, Record<string, unknown> | undefined>;
  const fifo = policy !== 'understudy';
  const engine = await createUnderstudy(
    {
      maxQueueSize: 1_000_000,
      ...trace.engine,
      dataDir,
      healthIntervalSeconds: 0,
      jobs: { leaseMs: 120_000, ...engineConfig.jobs, ...(fifo ? { agingSeconds: 0 } : {}) },
      scheduling: { tickMs: 5000, ...engineConfig.scheduling, ...(fifo ? { modelSpread: false } : {}), ...(policy === 'fifo' ? { affinity: false } : {}) },
    },
    {
      clock,
      backends,
      random,
      workerId: 'sim',
      probe: { read: async () => ({ cpuPercent: 10, memoryPercent: 30, diskFreeBytes: 1e13, gpus: null }) },
      syncJobLog: async () => undefined,
    },
  );

  const byId = new Map<string, SimJob>();
  const result: SimResult = { trace: trace.name, policy, startedAt: START, endedAt: START, gpuSlots: backends.reduce((n, b) => n + b.slots, 0), jobs: [], samples: [], loads: [], estimateEvents: 0, wallMs: 0 };
  let open = 0;
  // Events of a job that come before its submit returns (it may start at once) wait here for its record.
  const early = new Map<string, JobEvent[]>();
  const onJobEvent = (e: JobEvent): void => {
    const job = byId.get(e.jobId);
    if (!job) {
      early.set(e.jobId, [...(early.get(e.jobId) ?? []), e]);
      return;
    }
    if (e.type === 'job.started' && job.startedAt === undefined) {
      job.startedAt = e.at;
      job.lastBeforeStartAt = engine.estimateOf(e.jobId)?.resultAt ?? undefined;
    }
    if ('status' in e && isTerminalJobState(e.status) && job.endedAt === undefined) {
      job.endedAt = e.at;
      job.status = e.status;
      open--;
    }
  };
  engine.onEvent((e: UnderstudyEvent) => {
    if (e.type === 'model.status' && e.status === 'available') onDisk.add(e.modelId);
    if (e.type === 'model.loaded') {
      const loadGbPerSecond = loadSpeed.get(e.backendId) ?? 1;
      result.loads.push({ at: e.at, backendId: e.backendId, modelId: e.modelId, seconds: (catalog.byId.get(e.modelId)?.sizeGb ?? 0) / loadGbPerSecond });
    }
    if (e.type === 'job.estimate') result.estimateEvents++;
    if ('jobId' in e) onJobEvent(e);
  });
  await engine.start();

  const sampleMs = (options.sampleSeconds ?? 60) * 1000;
  let nextSample = START;
  const sampleUntil = async (t: number): Promise<void> => {
    while (nextSample <= t) {
      await clock.runUntil(nextSample);
      result.samples.push(await sample(engine, nextSample));
      nextSample += sampleMs;
    }
    await clock.runUntil(t);
  };

  for (const arrival of expandArrivals(trace)) {
    await sampleUntil(START + arrival.at * 1000);
    const job = await submit(engine, trace, arrival, fifo, clock.now(), catalog, estimation);
    result.jobs.push(job);
    if (job.id) {
      byId.set(job.id, job);
      open++;
      for (const e of early.get(job.id) ?? []) onJobEvent(e);
      early.delete(job.id);
      job.lastBeforeStartAt ??= job.promisedAt;
    }
  }
  const giveUp = clock.now() + (options.drainHours ?? 48) * 3_600_000;
  while (open > 0 && clock.now() < giveUp) await sampleUntil(clock.now() + sampleMs);

  for (const job of byId.values()) {
    const final = await engine.get(job.id!);
    if (!final) continue;
    job.status = final.status;
    job.isPreview = final.output?.isPreview ?? false;
    job.modelUsed = final.modelUsed;
    const model = catalog.byId.get(final.modelUsed);
    const r = final.request.requirements;
    job.generationSeconds =
      final.modelUsed === PREVIEW_MODEL_ID || !model
        ? 0
        : catalogGenerationSeconds(model, { resolution: r.resolution, quality: r.quality, ...(r.numFrames ? { numFrames: r.numFrames } : {}), ...(r.steps ? { steps: r.steps } : {}) }, estimation);
  }
  result.endedAt = Math.max(START, ...result.jobs.map((j) => j.endedAt ?? j.submittedAt));
  await engine.close(0);
  await rm(dataDir, { recursive: true, force: true });
  result.wallMs = performance.now() - wallStart;
  return result;
}

async function sample(engine: Awaited<ReturnType<typeof createUnderstudy>>, at: number): Promise<SimSample> {
  const counts = await engine.jobCounts();
  const running = await engine.list({ status: 'running', limit: 1000 });
  return { at, waiting: counts.queued + counts.waiting_for_model, busySlots: running.jobs.filter((j) => j.modelUsed !== PREVIEW_MODEL_ID).length };
}

async function submit(
  engine: Awaited<ReturnType<typeof createUnderstudy>>,
  trace: Trace,
  arrival: Arrival,
  fifo: boolean,
  now: number,
  catalog: ReturnType<typeof createCatalog>,
  estimation: ReturnType<typeof EstimationConfigSchema.parse>,
): Promise<SimJob> {
  const record: SimJob = { id: null, arrival, submittedAt: now };
  const model = catalog.byId.get(arrival.model);
  const needsImage = arrival.image ?? model?.inputs.image === 'required';
  // The reference's fixed method, on the same queue at the same moment.
  if (model) {
    const [queue, models] = await Promise.all([engine.queueStatus(), engine.models()]);
    const status = models.find((m) => m.model.id === model.id)?.status;
    const total = status?.bytesTotal ?? model.sizeGb * GIB;
    const remaining = status?.status === 'available' ? 0 : total - (status?.status === 'downloading' ? (status.bytesPresent ?? 0) : 0);
    const settings = { resolution: arrival.resolution, quality: arrival.quality, ...(arrival.numFrames ? { numFrames: arrival.numFrames } : {}), ...(arrival.steps ? { steps: arrival.steps } : {}) };
    const seconds = (queue.queueByModel[model.id] ?? 0) * estimation.secondsPerQueuePosition + remaining / estimation.downloadBytesPerSecond + catalogGenerationSeconds(model, settings, estimation);
    record.referenceAt = now + seconds * 1000;
  }
  try {
    const { job, estimate } = await engine.submit({
      model: arrival.model,
      prompt: `${trace.name} request`,
      priority: (fifo ? 'normal' : arrival.priority) satisfies Priority,
      resolution: arrival.resolution,
      quality: arrival.quality,
      ...(arrival.numFrames ? { numFrames: arrival.numFrames } : {}),
      ...(arrival.steps ? { steps: arrival.steps } : {}),
      ...(needsImage ? { image: PNG } : {}),
      ...trace.requests,
    });
    record.id = job.id;
    record.strategy = job.plan.strategyType;
    if (estimate?.resultAt) record.promisedAt = estimate.resultAt;
  } catch (error) {
    record.rejected = error instanceof Error ? error.message : String(error);
  }
  return record;
}
