import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { EventEmitter } from 'cockatiel';
import { z } from 'zod';
import { createCatalog, parseCatalogText, type Catalog } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import { EstimationConfigSchema, estimateVramGb } from '../core/estimates.js';
import { EstimateLearner, type EstimateLearnerState } from '../core/learner.js';
import { PlannerConfigSchema } from '../core/planning.js';
import { findReduction } from '../core/reduction.js';
import { withDefaults } from '../core/requirements.js';
import { ValidationError, isValidationError, parseOrThrow } from '../core/validation.js';
import { PreviewBackend } from '../adapters/preview-backend.js';
import { SimulatedBackend } from '../adapters/simulated-backend.js';
import { SimulatedLink } from '../adapters/simulated-link.js';
import { SqliteJobStore, type FileSync } from '../adapters/sqlite-job-store.js';
import { SystemProbe } from '../adapters/system-probe.js';
import { ModelFiles } from '../adapters/model-files/model-files.js';
import { DownloaderOptionsSchema, PEM_CERTIFICATE_LINE, RequestHeadersSchema } from '../adapters/model-files/downloader.js';
import { ComfyUiBackend } from '../adapters/comfyui/comfyui-backend.js';
import type { ComfyUiConfigInput } from '../adapters/comfyui/comfyui-config.js';
import type { Backend } from './backend.js';
import { reportBackendDownload } from './backend-download-progress.js';
import { BackendAvailability } from './backend-availability.js';
import { SystemClock } from './clocks.js';
import type { UnderstudyEvent } from './engine-events.js';
import { EstimateTracker } from './estimate-tracker.js';
import { FallbackRecoverySystem } from './fallback-recovery-system.js';
import { IntelligentFallbackManager } from './intelligent-fallback-manager.js';
import { JobRequestQueue } from './job-request-queue.js';
import { JobRunner } from './job-runner.js';
import { Scheduler } from './scheduler.js';
import { Understudy } from './understudy.js';
import type { HealthProbe } from './health-monitor.js';

/** Everything `createUnderstudy` can be configured with; every key has a documented default. */
export const UnderstudyConfigSchema = z.strictObject({
  /** Where the SQLite file, outputs and input images live (default `./data`). */
  dataDir: z.string().min(1).default('./data'),
  /** Most jobs waiting at once (default 100). */
  maxQueueSize: z.number().int().min(1).max(1_000_000).default(100),
  /** A catalog file (JSON or YAML) merged over the built-in Wan2.2 models. */
  catalogFile: z.string().optional(),
  /** Planner weights, tables, thresholds and policies (default: the reference's). */
  planner: z.record(z.string(), z.unknown()).default({}),
  /** Recovery chains, cooldowns, attempt budget and breakers (default: the reference's). */
  recovery: z.record(z.string(), z.unknown()).default({}),
  jobs: z
    .strictObject({
      /** How long a claim lasts unless renewed, ms (default 15 000). */
      leaseMs: z.number().int().min(100).default(15_000),
      /** Runs a job gets (default 3). */
      maxAttempts: z.number().int().min(1).max(20).default(3),
      /** Seconds of waiting that raise a job one priority level; 0 turns aging off (default 600). */
      agingSeconds: z.number().min(0).default(600),
      /** Days finished jobs are kept (default 7). */
      retentionDays: z.number().positive().default(7),
      /** Seconds without progress after which a generation is presumed hung and fails as a pipeline error (default 300). */
      stallSeconds: z.number().positive().default(300),
    })
    .prefault({}),
  scheduling: z
    .strictObject({
      /** Prefer jobs for the model already loaded (default true). */
      affinity: z.boolean().default(true),
      /** Most equal-priority jobs affinity may pass (default 3). */
      affinityMaxSkip: z.number().int().min(0).default(3),
      /** Housekeeping period, ms (default 1000). */
      tickMs: z.number().int().min(10).default(1000),
    })
    .prefault({}),
  /**
   * ComfyUI servers to run generations on, one backend each (see docs/comfyui.md). When given, they replace the
   * simulated GPU.
   */
  comfyui: z.array(z.record(z.string(), z.unknown())).default([]),
  /** The simulated GPU: the embedded default backend, a demo of every failure path. */
  simulated: z
    .strictObject({
      /** GPU memory, GiB (default 24). */
      vramGb: z.number().positive().default(24),
      /** Jobs at once (default 1). */
      slots: z.number().int().min(1).default(1),
      /** Models installed at start (default ti2v-5B only; the others download when needed). */
      installedModels: z.array(z.string()).default(['ti2v-5B']),
      /** Simulated download speed, MiB/s (default 50). */
      downloadMiBPerSecond: z.number().positive().default(50),
      /** Multiplies every simulated duration (default 0.02: a 120 s reference job takes 2.4 s). */
      timeScale: z.number().positive().default(0.02),
      /** Chance of each fault per job, 0 to 1 (default none). */
      faultProbabilities: z.record(z.string(), z.number().min(0).max(1)).default({}),
    })
    .prefault({}),
  /** Request limits. */
  limits: z
    .strictObject({
      /** Longest prompt, characters (default 4000). */
      maxPromptLength: z.number().int().positive().default(4000),
      /** Largest input image, bytes (default 10 MiB). */
      maxImageBytes: z.number().int().positive().default(10 * 1024 * 1024),
    })
    .prefault({}),
  /**
   * A models directory whose files Understudy downloads and verifies itself, for catalog models that list files
   * (default none: the backends report availability).
   */
  modelFiles: z
    .strictObject({
      /** The models directory. */
      dir: z.string().min(1),
      /** `flat`, or `comfyui` for ComfyUI's models/diffusion_models, models/vae, ... (default flat). */
      layout: z.enum(['flat', 'comfyui']).default('flat'),
      /** Only these hosts may be downloaded from (default any). */
      allowedHosts: z.array(z.string().min(1)).min(1).optional(),
      /** Largest file accepted, bytes (default 256 GiB). */
      maxFileBytes: z.number().int().positive().optional(),
      /** Downloads at once (default 2). */
      maxConcurrent: z.number().int().min(1).max(32).optional(),
      /** A PEM file of CA certificates trusted for https beside the bundled roots, e.g. a private mirror's. */
      caFile: z.string().min(1).optional(),
      /**
       * Extra request headers for downloads, e.g. `{ authorization: "Bearer hf_..." }` for gated models; credentials
       * are not sent on when a redirect leaves the first URL's origin.
       */
      headers: RequestHeadersSchema.optional(),
      /** An http proxy for downloads (default: HTTPS_PROXY / HTTP_PROXY from the environment, minus NO_PROXY). */
      proxy: DownloaderOptionsSchema.shape.proxy,
    })
    .optional(),
  /** Health monitoring period, seconds; 0 turns it off (default 60). */
  healthIntervalSeconds: z.number().min(0).default(60),
});
export type UnderstudyConfig = z.output<typeof UnderstudyConfigSchema>;
export type UnderstudyConfigInput = z.input<typeof UnderstudyConfigSchema>;

/** What can be injected instead of the real thing (tests, the simulator). */
export interface UnderstudyDependencies {
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: the real machine (CPU, memory, disk of the data dir, nvidia-smi). */
  probe?: HealthProbe;
  /** Default: a simulated GPU built from `config.simulated`. */
  backends?: Backend[];
  /** Source of randomness for fault injection and backoff jitter. */
  random?: () => number;
  /** Names this process in job leases (default hostname-pid). */
  workerId?: string;
  /**
   * How the job store makes its log durable (default `fdatasync` on the thread pool). Tests on a manual clock pass
   * one that returns at once, so that a step of the engine completes between two ticks of their clock.
   */
  syncJobLog?: FileSync;
}

/** Builds the engine on embedded defaults: a SQLite file in the data dir, the simulated GPU and the preview renderer. */
export async function createUnderstudy(configInput: UnderstudyConfigInput = {}, deps: UnderstudyDependencies = {}): Promise<Understudy> {
  const config = parseOrThrow(UnderstudyConfigSchema, configInput, 'config');
  const clock = deps.clock ?? new SystemClock();
  const dataDir = resolve(config.dataDir);
  const catalog = await loadCatalog(config.catalogFile);
  const simulated = !deps.backends && config.comfyui.length === 0;
  const plannerConfig = parseOrThrow(PlannerConfigSchema, withSimulatedSpeeds(config, simulated), 'config planner');
  const events = new EventEmitter<UnderstudyEvent>();
  const emit = (event: UnderstudyEvent): void => events.emit(event);

  const files = config.modelFiles
    ? await ModelFiles.open({
        catalog,
        clock,
        dataDir,
        directory: { root: resolve(config.modelFiles.dir), layout: config.modelFiles.layout },
        downloader: {
          ...(config.modelFiles.allowedHosts ? { allowedHosts: config.modelFiles.allowedHosts } : {}),
          ...(config.modelFiles.maxFileBytes ? { maxFileBytes: config.modelFiles.maxFileBytes } : {}),
          ...(config.modelFiles.maxConcurrent ? { maxConcurrent: config.modelFiles.maxConcurrent } : {}),
          ...(config.modelFiles.caFile ? { caCertificates: await readCaFile(config.modelFiles.caFile) } : {}),
          ...(config.modelFiles.headers ? { headers: config.modelFiles.headers } : {}),
          ...(config.modelFiles.proxy ? { proxy: config.modelFiles.proxy } : {}),
        },
        ...(deps.random ? { random: deps.random } : {}),
      })
    : undefined;
  /** Models whose files are complete on disk, refreshed at start and after each download. */
  const filesPresent = new Set<string>();
  const refreshFiles = async (): Promise<void> => {
    if (!files) return;
    for (const [modelId, status] of await files.snapshot()) {
      if (status.status === 'available') filesPresent.add(modelId);
      else filesPresent.delete(modelId);
    }
  };
  await refreshFiles();

  const comfy = await Promise.all(
    config.comfyui.map((entry, index) =>
      ComfyUiBackend.create(entry as ComfyUiConfigInput, { clock, models: catalog.models, ...(deps.random ? { random: deps.random } : {}) }).catch((error: unknown) => {
        if (isValidationError(error)) throw new ValidationError('config', error.issues.map((i) => ({ ...i, field: `comfyui[${index}].${i.field}` })));
        throw error;
      }),
    ),
  );
  const ids = new Set<string>();
  for (const [index, backend] of comfy.entries()) {
    if (ids.has(backend.id)) throw new ValidationError('config', [{ field: `comfyui[${index}].id`, problem: 'expected an id no other backend has', received: backend.id }]);
    ids.add(backend.id);
  }
  await Promise.all(comfy.map((b) => b.start()));
  const backends: Backend[] =
    deps.backends ??
    (comfy.length > 0 ? comfy : undefined) ??
    [
      new SimulatedBackend(
        {
          vramGb: config.simulated.vramGb,
          slots: config.simulated.slots,
          models: [...catalog.models],
          installed: config.simulated.installedModels,
          downloadBytesPerSecond: config.simulated.downloadMiBPerSecond * 1024 ** 2,
          timeScale: config.simulated.timeScale,
          estimation: plannerConfig.estimation,
          faultProbabilities: config.simulated.faultProbabilities,
        },
        {
          clock,
          filesPresent: (id) => filesPresent.has(id),
          // Downloads share one link, as on a real connection (the estimates assume so).
          link: new SimulatedLink((config.simulated.downloadMiBPerSecond * 1024 ** 2) / config.simulated.timeScale, clock),
          ...(deps.random ? { random: deps.random } : {}),
        },
      ),
    ];
  const preview = new PreviewBackend({}, { clock });
  const store = new SqliteJobStore({
    path: join(dataDir, 'understudy.db'),
    clock,
    maxQueueSize: config.maxQueueSize,
    leaseMs: config.jobs.leaseMs,
    maxAttempts: config.jobs.maxAttempts,
    agingSeconds: config.jobs.agingSeconds,
    retentionMs: config.jobs.retentionDays * 24 * 3600 * 1000,
    ...(deps.syncJobLog ? { syncLog: deps.syncJobLog } : {}),
  });
  const availability = new BackendAvailability(backends, files);
  const vramTotals = await Promise.all(backends.map((b) => b.vram()));
  const largestGpu = Math.max(0, ...vramTotals.map((v) => v?.totalGb ?? 0));
  const learnerFile = join(dataDir, 'learned-estimates.json');
  const learner = await loadLearner(learnerFile);
  const affinity = { enabled: config.scheduling.affinity, maxSkip: config.scheduling.affinityMaxSkip };
  const estimates = new EstimateTracker({ store, clock, catalog, estimation: plannerConfig.estimation, learner, backends, preview, availability, agingSeconds: config.jobs.agingSeconds, affinity, emit });
  events.addListener((e) => estimates.observe(e));
  const manager = new IntelligentFallbackManager({
    availability,
    learner,
    forecastWait: (requirements) => estimates.forecastWait(requirements),
    clock,
    catalog,
    config: plannerConfig,
    queue: new JobRequestQueue(store),
    queueAhead: async () => {
      const { byModel } = await store.queueSnapshot();
      return (modelId) => byModel[modelId]?.total ?? 0;
    },
    slots: backends.reduce((n, b) => n + b.slots, 0),
    ...(largestGpu > 0 ? { vramBudgetGb: () => largestGpu } : {}),
  });
  const recovery = new FallbackRecoverySystem({
    clock,
    probe: deps.probe ?? new SystemProbe({ dataDir }),
    // The backends' own view of GPU memory (the simulated GPU's, ComfyUI's /system_stats) replaces nvidia-smi's.
    vramReporter: {
      readVram: async () => {
        const reports = await Promise.all(backends.map(async (b) => ({ id: b.id, vram: await b.vram() })));
        return reports.flatMap(({ id, vram }) =>
          vram ? [{ device: id, totalBytes: vram.totalGb * 1024 ** 3, freeBytes: Math.max(0, vram.totalGb - vram.usedGb) * 1024 ** 3 }] : [],
        );
      },
    },
    config: config.recovery,
    ...(deps.random ? { random: deps.random } : {}),
    // The planner's ladder, from the failed job's settings: with no known budget, the reference reduction.
    reduceGenerationParams: (ctx) => {
      const model = ctx.modelId ? catalog.byId.get(ctx.modelId) : undefined;
      if (!model || !ctx.generation) return null;
      const requirements = { ...withDefaults({ modelType: model.id }), ...ctx.generation };
      const reduction = findReduction(model, requirements, {}, plannerConfig.reduction, plannerConfig.estimation);
      return reduction && estimateVramGb(model, reduction.settings, plannerConfig.estimation) < estimateVramGb(model, ctx.generation, plannerConfig.estimation)
        ? { settings: reduction.settings, adjustments: reduction.adjustments }
        : null;
    },
  });
  recovery.onRecoveryAttempt((attempt) => emit({ type: 'recovery_attempt', at: clock.now(), attempt }));
  recovery.onHealthStatus((health) => emit({ type: 'health_status', at: clock.now(), health }));
  recovery.onSystemStatus((status) => emit({ type: 'system_status', at: clock.now(), status }));
  for (const backend of backends) {
    backend.onEvent?.((e) => {
      if (e.type === 'model_loaded') learner.recordLoad(e.backendId, e.modelId, e.loadMs / 1000);
      if (e.type === 'model_loaded') emit({ type: 'model.loaded', at: e.at, modelId: e.modelId, backendId: e.backendId, detail: `loaded in ${e.loadMs} ms` });
      if (e.type === 'model_unloaded') emit({ type: 'model.unloaded', at: e.at, modelId: e.modelId, backendId: e.backendId, detail: e.reason });
    });
  }

  const downloads = new Map<string, Promise<void>>();
  const shutdown = new AbortController();
  const release = async (modelId: string): Promise<void> => {
    for (const job of await store.releaseWaiting(modelId)) {
      emit({ type: 'job.released', at: clock.now(), jobId: job.id, status: job.status, model: modelId, message: `${modelId} is ready` });
    }
    scheduler.wake();
  };
  files?.onProgress((p) => {
    if (!p.modelId) return;
    emit({ type: 'download.progress', at: p.at, modelId: p.modelId, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, bytesPerSecond: p.bytesPerSecond ?? 0, etaSeconds: p.etaSeconds ?? null });
  });
  /** A download the backend runs itself, reported as progress events while it runs. */
  const backendDownload = (modelId: string): Promise<void> => {
    const backend = backends.find((b) => b.ensureModelDownloaded)!;
    const stopReporting = reportBackendDownload(backend, modelId, { clock, emit, intervalMs: 500 });
    return backend.ensureModelDownloaded!(modelId, shutdown.signal).finally(stopReporting);
  };
  /** Downloads a model: its real files when the catalog lists them, else through the backend that can. */
  const download = (modelId: string): Promise<void> => {
    const existing = downloads.get(modelId);
    if (existing) return existing;
    const started = clock.now();
    const source = files?.manages(modelId) ? 'models directory' : backends.find((b) => b.ensureModelDownloaded)?.id;
    if (!source) return Promise.reject(new Error(`no way to download ${modelId}: the catalog lists no files and no backend downloads models`));
    emit({ type: 'model.status', at: started, modelId, status: 'downloading', backendId: source });
    const work = files?.manages(modelId)
      ? files.ensureModelDownloaded(modelId, shutdown.signal).then(async (results) => {
          const fetched = results.filter((r) => !r.reused).reduce((n, r) => n + r.bytes, 0);
          manager.learner.recordDownload(fetched, (clock.now() - started) / 1000);
          await refreshFiles();
        })
      : backendDownload(modelId);
    const done = work
      .then(async () => {
        emit({ type: 'model.status', at: clock.now(), modelId, status: 'available', backendId: source });
        await release(modelId);
      })
      .catch((error: unknown) => {
        emit({ type: 'model.status', at: clock.now(), modelId, status: 'failed', backendId: source });
        throw error;
      })
      .finally(() => downloads.delete(modelId));
    downloads.set(modelId, done);
    return done;
  };
  const requestDownload = (modelId: string): void => {
    // Failures are announced as model.status events; jobs waiting for the model expire at their deadline.
    download(modelId).catch(() => undefined);
  };

  const runner = new JobRunner({ store, clock, catalog, manager, recovery, outputDir: join(dataDir, 'outputs'), leaseMs: config.jobs.leaseMs, emit, requestDownload, stallMs: config.jobs.stallSeconds * 1000 });
  // Declared after requestDownload, which only reaches it once a download ends (long after this line runs).
  const scheduler = new Scheduler({
    store,
    clock,
    backends,
    preview,
    availability,
    recovery,
    runner,
    owner: deps.workerId ?? `${hostname()}-${process.pid}`,
    affinity,
    tickMs: config.scheduling.tickMs,
    emit,
  });
  if (config.healthIntervalSeconds > 0) recovery.startHealthMonitoring(config.healthIntervalSeconds * 1000);
  return new Understudy({
    clock,
    store,
    manager,
    recovery,
    availability,
    backends,
    scheduler,
    events,
    estimates,
    inputDir: join(dataDir, 'inputs'),
    limits: config.limits,
    requestDownload,
    download,
    ...(files ? { files } : {}),
    onClose: async () => {
      shutdown.abort(new Error('engine closed'));
      recovery.stopHealthMonitoring();
      await estimates.stop();
      await saveLearner(learnerFile, manager.learner);
      await Promise.all(comfy.map((b) => b.stop()));
      await store.close();
    },
  });
}

async function loadCatalog(file: string | undefined): Promise<Catalog> {
  const base = createCatalog();
  if (!file) return base;
  const text = await readFile(file, 'utf8');
  return parseCatalogText(text, /\.ya?ml$/i.test(file) ? 'yaml' : 'json', base, file);
}

/** The PEM text of `modelFiles.caFile`; a missing file or one without a certificate fails naming the field. */
async function readCaFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError('config', [{ field: 'modelFiles.caFile', problem: `cannot read ${file}: ${(error as Error).message}` }]);
  }
  if (!text.includes(PEM_CERTIFICATE_LINE)) {
    throw new ValidationError('config', [{ field: 'modelFiles.caFile', problem: `${file} holds no PEM certificate (no "${PEM_CERTIFICATE_LINE}" line)` }]);
  }
  return text;
}

/** What the estimator learned in earlier runs (durations, download speed); a fresh learner when there is none. */
async function loadLearner(file: string): Promise<EstimateLearner> {
  try {
    return new EstimateLearner(undefined, JSON.parse(await readFile(file, 'utf8')) as EstimateLearnerState);
  } catch {
    return new EstimateLearner();
  }
}

/** Keeps what the estimator learned for the next start, written atomically. */
async function saveLearner(file: string, learner: EstimateLearner): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(learner.toJSON()));
  await rename(`${file}.tmp`, file);
}

/**
 * On the simulated GPU, generations and downloads run `timeScale` times faster than their simulated figures: unless
 * the planner is told otherwise, it assumes the same (for the time a job ahead takes, too), so the demo's estimates
 * are honest from the first request.
 */
function withSimulatedSpeeds(config: UnderstudyConfig, simulated: boolean): Record<string, unknown> {
  const estimation = (config.planner.estimation ?? {}) as Record<string, unknown>;
  if (!simulated) return config.planner;
  const scale = config.simulated.timeScale;
  return {
    ...config.planner,
    estimation: {
      downloadBytesPerSecond: (config.simulated.downloadMiBPerSecond * 1024 ** 2) / scale,
      generationSpeedFactor: scale,
      secondsPerQueuePosition: EstimationConfigSchema.parse({}).secondsPerQueuePosition * scale,
      ...estimation,
    },
  };
}
