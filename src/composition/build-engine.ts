/**
 * Builds the engine around an opened store, in any role: every process has the planner, the recovery system and a
 * scheduler; the backends it plans on and the backends it runs jobs on are the role's choice (the local machine's,
 * or the live workers' for a gateway).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'cockatiel';
import type { Catalog } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import type { PlannerConfig } from '../core/planning.js';
import { LearnedEstimatesFile } from '../adapters/learned-estimates-file.js';
import { PreviewBackend } from '../adapters/preview-backend.js';
import { SystemProbe } from '../adapters/system-probe.js';
import { ArtifactPaths } from '../runtime/artifact-paths.js';
import { BackendAvailability } from '../runtime/backend-availability.js';
import { BackendVramReporter } from '../runtime/backend-vram.js';
import { HeartbeatPublisher } from '../runtime/cluster/heartbeat-publisher.js';
import type { RemoteBackends } from '../runtime/cluster/remote-backend.js';
import type { WorkerDirectory } from '../runtime/cluster/worker-directory.js';
import type { UnderstudyEvent } from '../runtime/engine-events.js';
import { EstimateTracker } from '../runtime/estimate-tracker.js';
import type { EventLog } from '../runtime/event-log.js';
import { forwardEngineEvents } from '../runtime/event-forwarding.js';
import { FallbackRecoverySystem } from '../runtime/recovery/fallback-recovery-system.js';
import type { HealthProbe } from '../runtime/recovery/health-monitor.js';
import { IntelligentFallbackManager } from '../runtime/intelligent-fallback-manager.js';
import { JobQueue } from '../runtime/job-queue.js';
import { JobRequestQueue } from '../runtime/job-request-queue.js';
import { JobRunner } from '../runtime/job-runner.js';
import { ModelDownloads, type DownloadPlacement } from '../runtime/model-downloads.js';
import { plannerReduction } from '../runtime/recovery-reduction.js';
import { Scheduler } from '../runtime/scheduler.js';
import type { StoreStatus } from '../runtime/store-status.js';
import { PREVIEW_MODEL_ID } from '../core/scoring.js';
import { lastStartedBy, type Job } from '../runtime/job.js';
import { Understudy } from '../runtime/understudy.js';
import type { UnderstudyConfig } from './config-schema.js';
import type { LocalMachine } from './local-machine.js';
import type { OpenedJobStore } from './open-job-store.js';

/** What every role shares: the parsed config and what was built from it before the store. */
export interface EngineBasics {
  config: UnderstudyConfig;
  clock: Clock;
  random?: () => number;
  dataDir: string;
  catalog: Catalog;
  plannerConfig: PlannerConfig;
  probe?: HealthProbe;
  /** Names this process in leases and among workers. */
  workerId: string;
}

/** How a role uses the machine and the cluster. */
export interface EngineRole {
  /** The backends this process runs jobs on (none for a gateway without a worker). */
  machine: LocalMachine;
  /** Whether the scheduler claims jobs; a process that does announces its heartbeat (false: housekeeping only). */
  claim: boolean;
  /** Where workers announce themselves and GET /v1/workers reads. */
  directory: WorkerDirectory;
  /** A gateway's view of the live workers' backends: the planner and the estimates plan on them (default the machine's). */
  remote?: RemoteBackends;
  /** Where downloads run, given the engine's emit (a gateway places them on workers); default the machine's backends. */
  placement?: (emit: (event: UnderstudyEvent) => void) => DownloadPlacement;
  /** Connects the built engine to the cluster (event relay, cancel signals, control channel); returns what to stop. */
  join?: (engine: BuiltEngine) => Promise<ReadonlyArray<{ stop(): Promise<void> }>>;
  /** Tells every worker that jobs of a model became claimable (default: nothing to tell, this process's scheduler wakes). */
  signalWork?: (modelId: string) => Promise<void>;
  /** Tells every worker that a job was cancelled (default: nothing to tell, the one process sees the store). */
  signalCancel?: (jobId: string, reason: string) => Promise<void>;
  /** Whether this process estimates jobs and announces it (default true; a worker, which serves no API, only writes outcomes). */
  announcesEstimates?: boolean;
  /** The events the WebSocket shows, with resumable ids (default: this process's, the last 10 000 in memory). */
  eventLog?: EventLog;
}

/** Understudy's version, announced in heartbeats. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The engine and the parts the cluster wiring reaches into. */
export interface BuiltEngine {
  understudy: Understudy;
  events: EventEmitter<UnderstudyEvent>;
  scheduler: Scheduler;
  runner: JobRunner;
  recovery: FallbackRecoverySystem;
  downloads: ModelDownloads;
  availability: BackendAvailability;
  machine: LocalMachine;
}

/** Builds the engine of `role` on `opened`. */
export async function buildEngine(basics: EngineBasics, opened: OpenedJobStore, role: EngineRole): Promise<BuiltEngine> {
  const { config, clock, catalog, plannerConfig, dataDir } = basics;
  const random = basics.random ? { random: basics.random } : {};
  const { store } = opened;
  const { machine } = role;
  const events = new EventEmitter<UnderstudyEvent>();
  const emit = (event: UnderstudyEvent): void => events.emit(event);
  const artifacts = new ArtifactPaths(config.artifacts.dir ?? dataDir);
  const learnedEstimates = new LearnedEstimatesFile(join(dataDir, 'learned-estimates.json'));
  const learner = await learnedEstimates.load();
  const planning = role.remote?.backends ?? machine.backends;
  const { files, presence } = machine;
  const placement = role.placement?.(emit);
  const downloads = new ModelDownloads({ clock, store, backends: machine.backends, ...(files ? { files } : {}), presence, learner, emit, ...(placement ? { placement } : {}) });
  const queue = new JobQueue(store, clock);
  const availability = new BackendAvailability(planning, files);
  const localAvailability = role.remote ? new BackendAvailability(machine.backends, files) : availability;
  const { remote } = role;
  const localLargestGpu = Math.max(0, ...(await Promise.all(machine.backends.map((b) => b.vram()))).map((v) => v?.totalGb ?? 0));
  // The live workers come and go: their slots and largest GPU are read at each plan.
  const largestGpu = (): number | undefined => {
    const largest = remote ? Math.max(0, ...remote.backends.map((b) => b.heartbeat.vramTotalGb ?? 0)) : localLargestGpu;
    return largest > 0 ? largest : undefined;
  };
  const affinity = { enabled: config.scheduling.affinity, maxSkip: config.scheduling.affinityMaxSkip, spread: config.scheduling.modelSpread };
  const preview = new PreviewBackend({}, { clock });
  const estimates = new EstimateTracker({
    store,
    clock,
    catalog,
    estimation: plannerConfig.estimation,
    learner,
    backends: planning,
    preview,
    availability,
    agingSeconds: config.jobs.agingSeconds,
    affinity,
    emit,
    ...(remote ? { recordsOutcomeOf: (job: Job) => lastStartedBy(job, basics.workerId) } : {}),
    ...(role.announcesEstimates === false ? { outcomesOnly: true } : {}),
  });
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
    get slots() {
      return Math.max(1, remote ? remote.capacity().slots : planning.reduce((n, b) => n + b.slots, 0));
    },
    ...(remote || localLargestGpu > 0 ? { vramBudgetGb: largestGpu } : {}),
  });
  const recovery = new FallbackRecoverySystem({
    clock,
    probe: basics.probe ?? new SystemProbe({ dataDir }),
    // The backends' own view of GPU memory replaces nvidia-smi's; a gateway's health reads its live workers' GPUs.
    vramReporter: new BackendVramReporter(planning),
    config: config.recovery,
    ...random,
    reduceGenerationParams: plannerReduction(catalog, plannerConfig),
    downloads,
  });
  forwardEngineEvents(recovery, machine.backends, learner, clock, emit);
  const runner = new JobRunner({ store, clock, catalog, manager, recovery, artifacts, leaseMs: config.jobs.leaseMs, emit, downloads, stallMs: config.jobs.stallSeconds * 1000 });
  const scheduler = new Scheduler({
    store,
    clock,
    backends: machine.backends,
    preview,
    availability: localAvailability,
    recovery,
    runner,
    downloads,
    owner: basics.workerId,
    affinity,
    tickMs: config.scheduling.tickMs,
    claim: role.claim,
    emit,
    ...(role.signalWork ? { signalWork: role.signalWork } : {}),
  });
  // Stopped one after the other when the engine closes, in this order: the heartbeat (the worker leaves the
  // directory), the cluster's parts in the order they joined, the view of the workers, what the machine launched.
  const closing: Array<{ stop(): Promise<void> }> = [];
  const { directory } = role;
  const heartbeat = role.claim
    ? new HeartbeatPublisher({ workerId: basics.workerId, version: VERSION, clock, directory, backends: machine.backends, availability: localAvailability, scheduler, downloads, recovery })
    : undefined;
  const understudy = new Understudy({
    clock,
    store,
    manager,
    recovery,
    availability,
    backends: planning,
    scheduler,
    events,
    ...(role.eventLog ? { eventLog: role.eventLog } : {}),
    estimates,
    artifacts,
    limits: config.limits,
    downloads,
    queue,
    ...(files ? { files } : {}),
    learnedEstimates,
    stopOnClose: [{ stop: async () => { for (const part of closing) await part.stop(); } }],
    storeStatus: (): Promise<StoreStatus> => opened.status(),
    workers: () => directory.live(),
    ...(role.signalCancel ? { signalCancel: role.signalCancel } : {}),
    ...(role.signalWork ? { signalWork: role.signalWork } : {}),
  });
  const built: BuiltEngine = { understudy, events, scheduler, runner, recovery, downloads, availability: localAvailability, machine };
  if (heartbeat) {
    await heartbeat.start();
    closing.push(heartbeat);
  }
  if (role.join) closing.push(...(await role.join(built)));
  // After joining: a gateway's first health check reads the live workers' GPUs, not an empty list.
  if (config.healthIntervalSeconds > 0) recovery.startHealthMonitoring(config.healthIntervalSeconds * 1000);
  // A gateway runs no jobs, so its own preview mode (entered while no worker was live) ends when any worker makes a real video.
  if (remote && !role.claim) {
    const listener = events.addListener((e) => {
      if (e.type === 'job.succeeded' && e.model !== PREVIEW_MODEL_ID) recovery.exitMockMode(`${e.model} generated a real video on a worker`);
    });
    closing.push({ stop: async () => listener.dispose() });
  }
  if (remote) closing.push({ stop: async () => remote.stop() });
  closing.push(...machine.stopOnClose);
  return built;
}
