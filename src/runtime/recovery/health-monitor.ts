/**
 * Health monitoring: reads the machine through a {@link HealthProbe} (and GPU memory through an optional
 * {@link VramReporter}), assesses the readings against thresholds and announces each result. Periodic checks run on
 * the injected clock, each one scheduled when the previous check and its handler have finished, so checks never
 * overlap.
 */
import { EventEmitter, type Event } from 'cockatiel';
import type { Clock, TimerHandle } from '../../core/clock.js';
import {
  assessHealth,
  type HealthThresholds,
  type PipelineProblems,
  type SystemHealthStatus,
  type VramSample,
} from '../../core/health-assessment.js';
import { ValidationError } from '../../core/validation.js';

const MIB_PER_GIB = 1024;
const BYTES_PER_GIB = 1024 ** 3;

/** One GPU as nvidia-smi reports it; memory in MiB, null where the tool says "[N/A]". */
export interface GpuDevice {
  readonly index: number;
  readonly name: string;
  readonly memoryTotalMib: number | null;
  readonly memoryUsedMib: number | null;
  readonly memoryFreeMib: number | null;
  readonly utilizationPercent: number | null;
  readonly temperatureC: number | null;
}

/** A reading of the machine; null where a value could not be read. */
export interface HealthReading {
  readonly cpuPercent: number | null;
  readonly memoryPercent: number | null;
  /** Free bytes on the disk holding the data directory. */
  readonly diskFreeBytes: number | null;
  /** GPUs found; null when there is no way to tell (no nvidia-smi). */
  readonly gpus: readonly GpuDevice[] | null;
  /** Why GPU information is missing, when a tool failed. */
  readonly gpuProblem?: string;
}

/** Port: reads the machine. Tests inject readings; production uses the SystemProbe adapter. */
export interface HealthProbe {
  read(): Promise<HealthReading>;
}

/** GPU memory of one device as a backend reports it (ComfyUI /system_stats devices[].vram_total / vram_free). */
export interface ReportedVram {
  readonly device: string;
  readonly totalBytes: number;
  readonly freeBytes: number;
}

/**
 * Port: GPU memory as the backend sees it. When it reports devices, they replace nvidia-smi's figures (the backend
 * knows which GPU it uses); null or an empty list means it has nothing to say.
 */
export interface VramReporter {
  readVram(): Promise<readonly ReportedVram[] | null>;
}

/** Options of a {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  readonly clock: Clock;
  readonly probe: HealthProbe;
  readonly thresholds: HealthThresholds;
  readonly vramReporter?: VramReporter;
  /** What recovery knows of model loading and the generation pipeline, read on every check (default: both work). */
  readonly pipelineProblems?: () => PipelineProblems;
}

/** Checks health on demand or periodically. */
export class HealthMonitor {
  private readonly statusEmitter = new EventEmitter<SystemHealthStatus>();
  /** Fires after every check (`health_status`). */
  readonly onHealthStatus: Event<SystemHealthStatus> = this.statusEmitter.addListener;

  private last: SystemHealthStatus | null = null;
  private timer: TimerHandle | null = null;
  private active = false;
  /** Bumped by start/stop so a check that was running when monitoring stopped does not reschedule. */
  private generation = 0;

  constructor(private readonly options: HealthMonitorOptions) {}

  /** The most recent result, or null before the first check. */
  get latest(): SystemHealthStatus | null {
    return this.last;
  }

  /** Whether periodic checks are running. */
  get running(): boolean {
    return this.active;
  }

  /** Reads the machine now and assesses it. A probe that throws yields a degraded status saying so. */
  async check(): Promise<SystemHealthStatus> {
    const { clock, probe, vramReporter, thresholds } = this.options;
    const problems = this.options.pipelineProblems?.() ?? {};
    let status: SystemHealthStatus;
    try {
      const [reading, reported] = await Promise.all([probe.read(), readReportedVram(vramReporter)]);
      const vram = reported ?? vramFromGpus(reading.gpus);
      status = assessHealth(
        {
          cpuPercent: reading.cpuPercent,
          memoryPercent: reading.memoryPercent,
          diskFreeBytes: reading.diskFreeBytes,
          vram,
          gpuAvailable: (reported?.length ?? 0) > 0 || (reading.gpus?.length ?? 0) > 0,
          ...(reading.gpuProblem !== undefined && { gpuProblem: reading.gpuProblem }),
          ...problems,
        },
        thresholds,
        clock.now(),
      );
    } catch (error) {
      status = probeFailedStatus(error, problems, clock.now());
    }
    this.last = status;
    this.statusEmitter.emit(status);
    return status;
  }

  /**
   * Checks now and then every `intervalMs` on the clock, awaiting `onStatus` after each check before scheduling the
   * next. Restarting replaces the previous schedule.
   */
  start(intervalMs: number, onStatus: (status: SystemHealthStatus) => Promise<void>): void {
    if (!(intervalMs > 0)) {
      throw new ValidationError('health monitoring interval', [
        { field: 'intervalMs', problem: 'expected a positive number of milliseconds', received: intervalMs },
      ]);
    }
    this.stop();
    this.active = true;
    const generation = ++this.generation;
    const tick = async (): Promise<void> => {
      try {
        const status = await this.check();
        if (generation === this.generation) await onStatus(status);
      } finally {
        if (generation === this.generation) this.timer = this.options.clock.setTimeout(() => void tick(), intervalMs);
      }
    };
    void tick();
  }

  /** Stops periodic checks; a check already running finishes but schedules nothing. */
  stop(): void {
    this.generation++;
    this.active = false;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

async function readReportedVram(reporter: VramReporter | undefined): Promise<VramSample[] | null> {
  if (!reporter) return null;
  const devices = await reporter.readVram();
  if (!devices || devices.length === 0) return null;
  return devices.map((d) => ({
    device: d.device,
    usedGb: (d.totalBytes - d.freeBytes) / BYTES_PER_GIB,
    totalGb: d.totalBytes / BYTES_PER_GIB,
  }));
}

function vramFromGpus(gpus: readonly GpuDevice[] | null): VramSample[] | null {
  if (!gpus) return null;
  return gpus.flatMap((gpu) => {
    if (gpu.memoryTotalMib === null) return [];
    const usedMib = gpu.memoryUsedMib ?? (gpu.memoryFreeMib !== null ? gpu.memoryTotalMib - gpu.memoryFreeMib : null);
    if (usedMib === null) return [];
    return [{ device: `GPU ${gpu.index} (${gpu.name})`, usedGb: usedMib / MIB_PER_GIB, totalGb: gpu.memoryTotalMib / MIB_PER_GIB }];
  });
}

function probeFailedStatus(error: unknown, problems: PipelineProblems, checkedAt: number): SystemHealthStatus {
  const issue = `Health could not be read: ${error instanceof Error ? error.message : String(error)}`;
  return {
    overallStatus: 'degraded',
    cpuUsagePercent: null,
    memoryUsagePercent: null,
    vramUsagePercent: null,
    gpuAvailable: false,
    modelLoadingFunctional: problems.modelLoadingProblem === undefined,
    generationPipelineFunctional: problems.generationPipelineProblem === undefined,
    lastCheckTimestamp: checkedAt,
    issues: [issue],
    recommendations: ['Check that the health probe (systeminformation, nvidia-smi, the data directory) works.'],
    diskFreeBytes: null,
    vram: null,
    findings: [],
  };
}
