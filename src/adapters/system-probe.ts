/**
 * The real machine as a {@link HealthProbe}: CPU load and available memory from systeminformation, free disk of the
 * data directory from fs.statfs, GPUs from nvidia-smi. Each part that cannot be read is reported as null instead of
 * failing the whole reading.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { currentLoad, mem } from 'systeminformation';
import type { GpuDevice, HealthProbe, HealthReading } from '../runtime/recovery/health-monitor.js';
import { queryNvidiaSmi, type NvidiaSmiOptions } from './nvidia-smi.js';

/** Options of {@link SystemProbe}. */
export interface SystemProbeOptions {
  /** Directory whose disk is checked for free space (models and outputs live there). */
  readonly dataDir: string;
  /** nvidia-smi options, or false to skip GPU detection (e.g. a CPU-only or simulated backend). */
  readonly nvidiaSmi?: NvidiaSmiOptions | false;
}

/** Reads CPU, memory, disk and GPUs of this machine. */
export class SystemProbe implements HealthProbe {
  constructor(private readonly options: SystemProbeOptions) {}

  async read(): Promise<HealthReading> {
    const [cpuPercent, memoryPercent, diskFreeBytes, gpu] = await Promise.all([
      readCpuPercent(),
      readMemoryPercent(),
      readDiskFreeBytes(this.options.dataDir),
      this.readGpus(),
    ]);
    return { cpuPercent, memoryPercent, diskFreeBytes, ...gpu };
  }

  private async readGpus(): Promise<{ gpus: GpuDevice[] | null; gpuProblem?: string }> {
    if (this.options.nvidiaSmi === false) return { gpus: null };
    const result = await queryNvidiaSmi(this.options.nvidiaSmi ?? {});
    switch (result.status) {
      case 'ok':
        return { gpus: result.gpus };
      case 'absent':
        return { gpus: null, gpuProblem: 'nvidia-smi not found' };
      case 'failed':
        return { gpus: null, gpuProblem: result.error };
    }
  }
}

async function readCpuPercent(): Promise<number | null> {
  try {
    const load = await currentLoad();
    return Number.isFinite(load.currentLoad) ? load.currentLoad : null;
  } catch {
    return null;
  }
}

/** Memory in use as the share of total that is not available (page cache counts as available). */
async function readMemoryPercent(): Promise<number | null> {
  try {
    const memory = await mem();
    return memory.total > 0 ? ((memory.total - memory.available) / memory.total) * 100 : null;
  } catch {
    return null;
  }
}

/** Free bytes for unprivileged users on the disk of `dir`, or of its nearest existing parent. */
async function readDiskFreeBytes(dir: string): Promise<number | null> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const stats = await statfs(current);
      return stats.bavail * stats.bsize;
    } catch (error) {
      const parent = path.dirname(current);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) return null;
      current = parent;
    }
  }
}
