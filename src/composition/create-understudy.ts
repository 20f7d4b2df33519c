/**
 * The composition root: the only place that picks adapters and connects them to the engine. It constructs and
 * connects; every behaviour lives in runtime (ModelDownloads, JobQueue, the scheduler, ...) or in an adapter.
 */
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { EventEmitter } from 'cockatiel';
import { PlannerConfigSchema } from '../core/planning.js';
import { ValidationError, isValidationError, parseOrThrow } from '../core/validation.js';
import type { Clock } from '../core/clock.js';
import { ComfyUiBackend } from '../adapters/comfyui/comfyui-backend.js';
import type { ComfyUiConfigInput } from '../adapters/comfyui/comfyui-config.js';
import { LearnedEstimatesFile } from '../adapters/learned-estimates-file.js';
import { ModelFiles } from '../adapters/model-files/model-files.js';
import { PreviewBackend } from '../adapters/preview-backend.js';
import { SimulatedBackend } from '../adapters/simulated-backend.js';
import { SimulatedLink } from '../adapters/simulated-link.js';
import { SqliteJobStore, type FileSync } from '../adapters/sqlite/index.js';
import { SystemClock } from '../adapters/system-clock.js';
import { SystemProbe } from '../adapters/system-probe.js';
import type { Backend } from '../runtime/backend.js';
import { BackendAvailability } from '../runtime/backend-availability.js';
import { BackendVramReporter } from '../runtime/backend-vram.js';
import type { UnderstudyEvent } from '../runtime/engine-events.js';
import { EstimateTracker } from '../runtime/estimate-tracker.js';
import { forwardEngineEvents } from '../runtime/event-forwarding.js';
import { FallbackRecoverySystem } from '../runtime/recovery/fallback-recovery-system.js';
import type { HealthProbe } from '../runtime/recovery/health-monitor.js';
import { IntelligentFallbackManager } from '../runtime/intelligent-fallback-manager.js';
import { JobQueue } from '../runtime/job-queue.js';
import { JobRequestQueue } from '../runtime/job-request-queue.js';
import { JobRunner } from '../runtime/job-runner.js';
import { ModelDownloads } from '../runtime/model-downloads.js';
import { ModelFilePresence } from '../runtime/model-file-presence.js';
import { plannerReduction } from '../runtime/recovery-reduction.js';
import { Scheduler } from '../runtime/scheduler.js';
import { Understudy } from '../runtime/understudy.js';
import { loadCatalog, readCaFile } from './config-files.js';
import { UnderstudyConfigSchema, withSimulatedSpeeds, type UnderstudyConfig, type UnderstudyConfigInput } from './config-schema.js';

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
  const random = deps.random ? { random: deps.random } : {};
  const dataDir = resolve(config.dataDir);
  const catalog = await loadCatalog(config.catalogFile);
  const simulated = !deps.backends && config.comfyui.length === 0;
  const plannerConfig = parseOrThrow(PlannerConfigSchema, withSimulatedSpeeds(config, simulated), 'config planner');
  const events = new EventEmitter<UnderstudyEvent>();
  const emit = (event: UnderstudyEvent): void => events.emit(event);

  const files = config.modelFiles ? await openModelFiles(config.modelFiles, { catalog, clock, dataDir, ...random }) : undefined;
  const comfy = await openComfyUi(config, { clock, models: catalog.models, ...random });
  await Promise.all(comfy.map((b) => b.start()));
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
  const learnedEstimates = new LearnedEstimatesFile(join(dataDir, 'learned-estimates.json'));
  const learner = await learnedEstimates.load();
  const presence = new ModelFilePresence(files);
  await presence.refresh();
  const backends: readonly Backend[] = deps.backends ??
    (comfy.length > 0 ? comfy : undefined) ?? [
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
          filesPresent: presence.models,
          // Downloads share one link, as on a real connection (the estimates assume so).
          link: new SimulatedLink((config.simulated.downloadMiBPerSecond * 1024 ** 2) / config.simulated.timeScale, clock),
          ...random,
        },
      ),
    ];
  const downloads = new ModelDownloads({ clock, store, backends, ...(files ? { files } : {}), presence, learner, emit });
  const queue = new JobQueue(store, clock);
  const availability = new BackendAvailability(backends, files);
  const vramTotals = await Promise.all(backends.map((b) => b.vram()));
  const largestGpu = Math.max(0, ...vramTotals.map((v) => v?.totalGb ?? 0));
  const affinity = { enabled: config.scheduling.affinity, maxSkip: config.scheduling.affinityMaxSkip, spread: config.scheduling.modelSpread };
  const preview = new PreviewBackend({}, { clock });
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
    queueAhead: queue,
    slots: backends.reduce((n, b) => n + b.slots, 0),
    ...(largestGpu > 0 ? { vramBudgetGb: () => largestGpu } : {}),
  });
  const recovery = new FallbackRecoverySystem({
    clock,
    probe: deps.probe ?? new SystemProbe({ dataDir }),
    // The backends' own view of GPU memory replaces nvidia-smi's.
    vramReporter: new BackendVramReporter(backends),
    config: config.recovery,
    ...random,
    reduceGenerationParams: plannerReduction(catalog, plannerConfig),
    downloads,
  });
  forwardEngineEvents(recovery, backends, learner, clock, emit);
  const runner = new JobRunner({ store, clock, catalog, manager, recovery, outputDir: join(dataDir, 'outputs'), leaseMs: config.jobs.leaseMs, emit, downloads, stallMs: config.jobs.stallSeconds * 1000 });
  const scheduler = new Scheduler({
    store,
    clock,
    backends,
    preview,
    availability,
    recovery,
    runner,
    downloads,
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
    downloads,
    queue,
    ...(files ? { files } : {}),
    learnedEstimates,
    stopOnClose: comfy,
  });
}

/** The models directory of `modelFiles`, its CA file read and checked. */
async function openModelFiles(
  options: NonNullable<UnderstudyConfig['modelFiles']>,
  context: Pick<Parameters<typeof ModelFiles.open>[0], 'catalog' | 'clock' | 'dataDir' | 'random'>,
): Promise<ModelFiles> {
  return ModelFiles.open({
    ...context,
    directory: { root: resolve(options.dir), layout: options.layout },
    downloader: {
      ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
      ...(options.maxFileBytes ? { maxFileBytes: options.maxFileBytes } : {}),
      ...(options.maxConcurrent ? { maxConcurrent: options.maxConcurrent } : {}),
      ...(options.connections ? { connections: options.connections } : {}),
      ...(options.connectionsPerHost ? { connectionsPerHost: options.connectionsPerHost } : {}),
      ...(options.caFile ? { caCertificates: await readCaFile(options.caFile) } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
    },
  });
}

/** One backend per `comfyui` entry; a bad entry or a repeated id fails naming its place in the config. */
async function openComfyUi(config: UnderstudyConfig, deps: Parameters<typeof ComfyUiBackend.create>[1]): Promise<ComfyUiBackend[]> {
  const comfy = await Promise.all(
    config.comfyui.map((entry, index) =>
      ComfyUiBackend.create(entry as ComfyUiConfigInput, deps).catch((error: unknown) => {
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
  return comfy;
}
