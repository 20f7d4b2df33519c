import type { Backend } from './backend.js';
import type { ReportedVram, VramReporter } from './recovery/health-monitor.js';

/** GPU memory as the backends see it (the simulated GPU's, ComfyUI's /system_stats), for the health monitor. */
export class BackendVramReporter implements VramReporter {
  constructor(private readonly backends: readonly Backend[]) {}

  async readVram(): Promise<ReportedVram[]> {
    const reports = await Promise.all(this.backends.map(async (b) => ({ id: b.id, vram: await b.vram() })));
    return reports.flatMap(({ id, vram }) =>
      vram ? [{ device: id, totalBytes: vram.totalGb * 1024 ** 3, freeBytes: Math.max(0, vram.totalGb - vram.usedGb) * 1024 ** 3 }] : [],
    );
  }
}
