/** `understudy workers`: each live worker, its backends' slots and GPU memory, models installed and downloading. */
import type { WorkersView } from '../http/routes-system.js';
import { formatBytes, formatSeconds } from './format.js';

/** One block per live worker; `now` (epoch ms) dates the last heartbeat. */
export function formatWorkers(view: WorkersView, now: number): string {
  if (view.workers.length === 0) return 'no live worker (none has sent a heartbeat within the last 15 s)';
  return view.workers
    .map((w) => {
      const ago = formatSeconds(Math.max(0, (now - w.sentAt) / 1000));
      const disk = w.diskFreeBytes === null ? 'disk free unknown' : `${formatBytes(w.diskFreeBytes)} free`;
      const lines = [`${w.workerId} (v${w.version}): last heartbeat ${ago} ago, ${disk}`];
      for (const b of w.backends) {
        const gpu = b.vramTotalGb === null ? 'no GPU reading' : `${(b.vramFreeGb ?? 0).toFixed(1)} of ${b.vramTotalGb.toFixed(1)} GB free`;
        const breaker = b.breakerOpen ? ', breaker OPEN' : '';
        lines.push(`  ${b.backendId}: ${b.busy}/${b.slots} busy, ${gpu}, ${b.health}${breaker}`);
        lines.push(`    installed: ${b.installed.join(', ') || 'none'}${b.loaded.length > 0 ? `; loaded: ${b.loaded.join(', ')}` : ''}`);
        for (const d of b.downloading) {
          const total = d.bytesTotal === null ? '' : ` of ${formatBytes(d.bytesTotal)}`;
          lines.push(`    downloading ${d.modelId}: ${formatBytes(d.bytesDone)}${total}${d.etaSeconds === null ? '' : `, ${formatSeconds(d.etaSeconds)} left`}`);
        }
      }
      return lines.join('\n');
    })
    .join('\n');
}
