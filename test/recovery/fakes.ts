// Test doubles for the recovery tests: a scriptable recovery target, a settable health probe and a helper that
// advances a ManualClock until a promise settles.
import type { HealthProbe, HealthReading } from '../../src/runtime/recovery/health-monitor.js';
import type { RecoveryTarget, TargetHealth } from '../../src/runtime/recovery/recovery-target.js';
import type { OffloadMode } from '../../src/core/recovery-policy.js';
import { sleep } from '../../src/core/clock.js';
import type { ManualClock } from '../../src/runtime/clocks.js';
import type { Clock } from '../../src/core/clock.js';

export const GIB = 1024 ** 3;

/** How a fake target method behaves: succeed, fail, never finish, or custom. */
export type Behaviour = 'ok' | 'fail' | 'hang' | ((signal: AbortSignal) => Promise<void>);

export type TargetMethod =
  | 'freeGpuMemory'
  | 'unloadModels'
  | 'restartPipeline'
  | 'setOffloadMode'
  | 'ensureModelDownloaded'
  | 'applyVramOptimization'
  | 'checkHealth';

/** One call made to a fake target. */
export interface TargetCall {
  readonly method: TargetMethod;
  readonly at: number;
  readonly argument?: string;
  readonly signal: AbortSignal;
}

/** A fake target that only has the methods given a behaviour, and records every call. */
export class FakeTarget implements RecoveryTarget {
  readonly calls: TargetCall[] = [];
  freeGpuMemory?: (signal: AbortSignal) => Promise<void>;
  unloadModels?: (signal: AbortSignal) => Promise<void>;
  restartPipeline?: (signal: AbortSignal) => Promise<void>;
  setOffloadMode?: (mode: OffloadMode, signal: AbortSignal) => Promise<void>;
  ensureModelDownloaded?: (modelId: string, signal: AbortSignal) => Promise<void>;
  applyVramOptimization?: (signal: AbortSignal) => Promise<void>;
  checkHealth?: (signal: AbortSignal) => Promise<TargetHealth>;

  constructor(
    readonly id: string,
    private readonly clock: Clock,
    behaviours: Partial<Record<TargetMethod, Behaviour>>,
  ) {
    const b = behaviours;
    if (b.freeGpuMemory) this.freeGpuMemory = (signal) => this.call('freeGpuMemory', b.freeGpuMemory!, signal);
    if (b.unloadModels) this.unloadModels = (signal) => this.call('unloadModels', b.unloadModels!, signal);
    if (b.restartPipeline) this.restartPipeline = (signal) => this.call('restartPipeline', b.restartPipeline!, signal);
    if (b.setOffloadMode) {
      this.setOffloadMode = (mode, signal) => this.call('setOffloadMode', b.setOffloadMode!, signal, mode);
    }
    if (b.ensureModelDownloaded) {
      this.ensureModelDownloaded = (modelId, signal) =>
        this.call('ensureModelDownloaded', b.ensureModelDownloaded!, signal, modelId);
    }
    if (b.applyVramOptimization) {
      this.applyVramOptimization = (signal) => this.call('applyVramOptimization', b.applyVramOptimization!, signal);
    }
    if (b.checkHealth) {
      const behaviour = b.checkHealth;
      this.checkHealth = async (signal) => {
        try {
          await this.call('checkHealth', behaviour, signal);
          return { healthy: true };
        } catch (error) {
          return { healthy: false, reason: (error as Error).message };
        }
      };
    }
  }

  /** Names of the methods called, in order. */
  get methodsCalled(): TargetMethod[] {
    return this.calls.map((c) => c.method);
  }

  private call(method: TargetMethod, behaviour: Behaviour, signal: AbortSignal, argument?: string): Promise<void> {
    this.calls.push({ method, at: this.clock.now(), signal, ...(argument !== undefined && { argument }) });
    if (behaviour === 'ok') return Promise.resolve();
    if (behaviour === 'fail') return Promise.reject(new Error(`${method} failed`));
    if (behaviour === 'hang') return new Promise<void>(() => undefined);
    return behaviour(signal);
  }
}

/** A behaviour that takes `ms` on the clock, then succeeds or fails. */
export function after(clock: Clock, ms: number, outcome: 'ok' | 'fail'): Behaviour {
  return async (signal) => {
    await sleep(clock, ms, signal);
    if (outcome === 'fail') throw new Error(`failed after ${ms} ms`);
  };
}

/** A healthy machine with one 24 GiB GPU using 2 GiB. */
export function healthyReading(): HealthReading {
  return {
    cpuPercent: 10,
    memoryPercent: 20,
    diskFreeBytes: 100 * GIB,
    gpus: [
      {
        index: 0,
        name: 'NVIDIA GeForce RTX 4090',
        memoryTotalMib: 24_576,
        memoryUsedMib: 2_048,
        memoryFreeMib: 22_528,
        utilizationPercent: 5,
        temperatureC: 40,
      },
    ],
  };
}

/** A probe whose reading tests set directly; counts reads. */
export class FakeProbe implements HealthProbe {
  reads = 0;
  constructor(public reading: HealthReading = healthyReading()) {}

  read(): Promise<HealthReading> {
    this.reads++;
    return Promise.resolve(this.reading);
  }
}

/** The healthy reading with the single GPU's VRAM use set to `percent` of 10,000 MiB. */
export function readingWithVram(percent: number): HealthReading {
  const total = 10_000;
  const used = (total * percent) / 100;
  return {
    ...healthyReading(),
    gpus: [
      {
        index: 0,
        name: 'Test GPU',
        memoryTotalMib: total,
        memoryUsedMib: used,
        memoryFreeMib: total - used,
        utilizationPercent: 50,
        temperatureC: 60,
      },
    ],
  };
}

/** Advances the clock `stepMs` at a time until `promise` settles (at most `limitMs`), then returns its value. */
export async function runOnClock<T>(clock: ManualClock, promise: Promise<T>, stepMs = 500, limitMs = 4 * 3_600_000): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  await clock.flush();
  for (let elapsed = 0; !settled && elapsed < limitMs; elapsed += stepMs) await clock.advance(stepMs);
  if (!settled) throw new Error(`promise did not settle within ${limitMs} ms of clock time`);
  return tracked;
}
