import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedBackend, type SimulatedBackendOptionsInput } from '../../src/adapters/simulated-backend.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { createUnderstudy, type UnderstudyConfigInput } from '../../src/composition/index.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import type { HealthProbe } from '../../src/runtime/recovery/health-monitor.js';
import type { Understudy } from '../../src/runtime/understudy.js';

/** A calm machine: low CPU and memory, plenty of disk; GPU memory comes from the simulated backend. */
export const calmProbe: HealthProbe = {
  read: async () => ({ cpuPercent: 10, memoryPercent: 30, diskFreeBytes: 500 * 1024 ** 3, gpus: null }),
};

export interface EngineHarness {
  engine: Understudy;
  clock: ManualClock;
  backend: SimulatedBackend;
  dataDir: string;
  events: UnderstudyEvent[];
  /** Advances the manual clock in steps until `done()` holds, or fails after `maxMs` of simulated time. */
  runUntil(done: () => boolean | Promise<boolean>, maxMs?: number, stepMs?: number): Promise<void>;
  /**
   * Runs the clock until the engine has emitted `type` for the job: the end of a step, after its durable write and
   * what follows it (a state read from the store can show a change before the write's sync and follow-ups finish).
   */
  runUntilEvent(type: UnderstudyEvent['type'], jobId: string, maxMs?: number, stepMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The job log sync for engines on a manual clock: returns at once, as a synchronous commit did, so that each step of
 * the engine completes within a tick of the test's clock. (The store's own tests cover the real `fdatasync`.)
 */
export const instantLogSync = async (): Promise<void> => undefined;

/** An engine on a real SQLite file in a temp dir, a simulated GPU and a manual clock. */
export async function startEngine(
  config: UnderstudyConfigInput = {},
  backendOptions: SimulatedBackendOptionsInput = {},
  dataDir?: string,
): Promise<EngineHarness> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'understudy-engine-')));
  const clock = new ManualClock();
  const backend = new SimulatedBackend({ installed: ['ti2v-5B'], timeScale: 0.01, ...backendOptions }, { clock, random: () => 0.5 });
  const engine = await createUnderstudy(
    { dataDir: dir, healthIntervalSeconds: 0, ...config },
    { clock, probe: calmProbe, backends: [backend], random: () => 0.5, workerId: 'test-worker', syncJobLog: instantLogSync },
  );
  const events: UnderstudyEvent[] = [];
  engine.onEvent((e) => events.push(e));
  await engine.start();
  const runUntil: EngineHarness['runUntil'] = async (done, maxMs = 600_000, stepMs = 250) => {
    for (let t = 0; t <= maxMs; t += stepMs) {
      if (await done()) return;
      await clock.advance(stepMs);
    }
    throw new Error(`condition not met within ${maxMs} ms of simulated time`);
  };
  return {
    engine,
    clock,
    backend,
    dataDir: dir,
    events,
    runUntil,
    runUntilEvent: (type, jobId, maxMs, stepMs) =>
      runUntil(() => events.some((e) => e.type === type && 'jobId' in e && e.jobId === jobId), maxMs, stepMs),
    async close() {
      await engine.close(0);
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
