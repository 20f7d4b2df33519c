/**
 * The composition root: the only place that picks adapters and connects them to the engine. It constructs and
 * connects; every behaviour lives in runtime (ModelDownloads, JobQueue, the scheduler, ...) or in an adapter.
 *
 * Roles: without `store`, one process does everything on the embedded SQLite file (the default). With a Redis
 * `store`, `createUnderstudy` builds a gateway (with a local worker unless `localWorker` is false) and
 * `createWorker` a worker (create-gateway.ts, create-worker.ts).
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { PlannerConfigSchema } from '../core/planning.js';
import { ValidationError, parseOrThrow } from '../core/validation.js';
import type { Clock } from '../core/clock.js';
import type { FileSync } from '../adapters/sqlite/index.js';
import { SystemClock } from '../adapters/system-clock.js';
import type { Backend } from '../runtime/backend.js';
import { InMemoryWorkerDirectory } from '../runtime/in-memory-worker-directory.js';
import type { HealthProbe } from '../runtime/recovery/health-monitor.js';
import type { Understudy } from '../runtime/understudy.js';
import { buildEngine, type EngineBasics } from './build-engine.js';
import { loadCatalog } from './config-files.js';
import { UnderstudyConfigSchema, withSimulatedSpeeds, type UnderstudyConfigInput } from './config-schema.js';
import { createGateway } from './create-gateway.js';
import { openLocalMachine, type LocalMachineContext } from './local-machine.js';
import { openSqliteJobStore } from './open-job-store.js';

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
  /** Names this process in job leases (default `config.workerId`, else hostname-pid). */
  workerId?: string;
  /**
   * How the job store makes its log durable (default `fdatasync` on the thread pool). Tests on a manual clock pass
   * one that returns at once, so that a step of the engine completes between two ticks of their clock.
   */
  syncJobLog?: FileSync;
  /** Called with what operators must see at startup (a volatile Redis); default: written to stderr. */
  warn?: (message: string) => void;
}

/**
 * Builds the engine: on embedded defaults (a SQLite file in the data dir, the simulated GPU and the preview
 * renderer), or, with a Redis `store`, a gateway.
 */
export async function createUnderstudy(configInput: UnderstudyConfigInput = {}, deps: UnderstudyDependencies = {}): Promise<Understudy> {
  const basics = await engineBasics(configInput, deps);
  const { config } = basics;
  if (config.store !== undefined) return createGateway(basics, deps);
  if (!config.localWorker) {
    throw new ValidationError('config', [{ field: 'localWorker', problem: 'false (--no-worker) needs a Redis store (store / --store redis://…): with the embedded SQLite file nothing else could run jobs' }]);
  }
  const machine = await openLocalMachine(config, machineContext(basics, deps));
  const opened = openSqliteJobStore(config, { clock: basics.clock, dataDir: basics.dataDir, ...(deps.syncJobLog ? { syncJobLog: deps.syncJobLog } : {}) });
  const { understudy } = await buildEngine(basics, opened, { machine, claim: true, directory: new InMemoryWorkerDirectory(basics.clock) });
  return understudy;
}

/** What opening this process's machine needs. */
export function machineContext(basics: EngineBasics, deps: UnderstudyDependencies): LocalMachineContext {
  const { catalog, clock, dataDir, random, plannerConfig } = basics;
  return { catalog, clock, dataDir, estimation: plannerConfig.estimation, ...(random ? { random } : {}), ...(deps.backends ? { backends: deps.backends } : {}) };
}

/** The config parsed and what every role builds from it before the store: clock, catalog, planner config, names. */
export async function engineBasics(configInput: UnderstudyConfigInput, deps: UnderstudyDependencies): Promise<EngineBasics> {
  const config = parseOrThrow(UnderstudyConfigSchema, configInput, 'config');
  const catalog = await loadCatalog(config.catalogFile);
  const simulated = !deps.backends && config.comfyui.length === 0;
  return {
    config,
    clock: deps.clock ?? new SystemClock(),
    ...(deps.random ? { random: deps.random } : {}),
    dataDir: resolve(config.dataDir),
    catalog,
    plannerConfig: parseOrThrow(PlannerConfigSchema, withSimulatedSpeeds(config, simulated), 'config planner'),
    ...(deps.probe ? { probe: deps.probe } : {}),
    workerId: deps.workerId ?? config.workerId ?? `${hostname()}-${process.pid}`,
  };
}
