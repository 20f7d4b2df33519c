/**
 * A worker's engine built part by part, as the composition root builds it, so that the cluster tests can reach the
 * parts a heartbeat reads and a cancel signal drives (scheduler, runner, downloads, recovery): a simulated GPU, a
 * real SQLite file, a manual clock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'cockatiel';
import { PreviewBackend } from '../../src/adapters/preview-backend.js';
import { SimulatedBackend, type SimulatedBackendOptionsInput } from '../../src/adapters/simulated-backend.js';
import { SqliteJobStore } from '../../src/adapters/sqlite/index.js';
import { createCatalog } from '../../src/core/catalog.js';
import { EstimateLearner } from '../../src/core/learner.js';
import { ArtifactPaths } from '../../src/runtime/artifact-paths.js';
import { BackendAvailability } from '../../src/runtime/backend-availability.js';
import { BackendVramReporter } from '../../src/runtime/backend-vram.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { IntelligentFallbackManager } from '../../src/runtime/intelligent-fallback-manager.js';
import { JobQueue } from '../../src/runtime/job-queue.js';
import { JobRequestQueue } from '../../src/runtime/job-request-queue.js';
import { JobRunner } from '../../src/runtime/job-runner.js';
import { ModelDownloads } from '../../src/runtime/model-downloads.js';
import { FallbackRecoverySystem } from '../../src/runtime/recovery/fallback-recovery-system.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { Understudy } from '../../src/runtime/understudy.js';
import { calmProbe, instantLogSync } from '../engine/fixtures.js';

export interface WorkerEngine {
  clock: ManualClock;
  backend: SimulatedBackend;
  engine: Understudy;
  store: SqliteJobStore;
  scheduler: Scheduler;
  runner: JobRunner;
  downloads: ModelDownloads;
  recovery: FallbackRecoverySystem;
  availability: BackendAvailability;
  artifacts: ArtifactPaths;
  events: UnderstudyEvent[];
  close(): Promise<void>;
}

/** A started worker engine on a simulated GPU (`backendOptions`: installed models, slots, VRAM, speed). */
export async function startWorkerEngine(backendOptions: SimulatedBackendOptionsInput = {}): Promise<WorkerEngine> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-cluster-'));
  const clock = new ManualClock();
  const catalog = createCatalog();
  const events = new EventEmitter<UnderstudyEvent>();
  const seen: UnderstudyEvent[] = [];
  events.addListener((e) => seen.push(e));
  const emit = (e: UnderstudyEvent): void => events.emit(e);
  const backend = new SimulatedBackend({ id: 'gpu-0', installed: ['ti2v-5B'], timeScale: 0.01, ...backendOptions }, { clock, random: () => 0.5 });
  const backends = [backend];
  const store = new SqliteJobStore({ path: join(dir, 'understudy.db'), clock, syncLog: instantLogSync });
  const learner = new EstimateLearner();
  const artifacts = new ArtifactPaths(dir);
  const downloads = new ModelDownloads({ clock, store, backends, learner, emit });
  const availability = new BackendAvailability(backends);
  const queue = new JobQueue(store, clock);
  const manager = new IntelligentFallbackManager({ availability, learner, clock, catalog, queue: new JobRequestQueue(store), queueAhead: queue, slots: backend.slots });
  const recovery = new FallbackRecoverySystem({ clock, probe: calmProbe, vramReporter: new BackendVramReporter(backends), random: () => 0.5, downloads });
  const runner = new JobRunner({ store, clock, catalog, manager, recovery, artifacts, leaseMs: 60_000, emit, downloads });
  const preview = new PreviewBackend({}, { clock });
  const scheduler = new Scheduler({ store, clock, backends, preview, availability, recovery, runner, downloads, owner: 'worker-a', affinity: { enabled: true, maxSkip: 3, spread: true }, tickMs: 1000, emit });
  const engine = new Understudy({ clock, store, manager, recovery, availability, backends, scheduler, events, artifacts, downloads, queue });
  await engine.start();
  return {
    clock,
    backend,
    engine,
    store,
    scheduler,
    runner,
    downloads,
    recovery,
    availability,
    artifacts,
    events: seen,
    async close() {
      await engine.close(0);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
