import type { DownloadCandidate } from '../../core/download-target.js';
import type { WorkerHeartbeat } from './worker-heartbeat.js';

/** What live workers' heartbeats say about placing a download of `modelId` (input of chooseDownloadTarget). */
export function downloadCandidates(heartbeats: readonly WorkerHeartbeat[], modelId: string): DownloadCandidate[] {
  return heartbeats.map((hb) => {
    const gpus = hb.backends.map((b) => b.vramTotalGb).filter((v): v is number => v !== null);
    const downloads = new Set(hb.backends.flatMap((b) => b.downloading.map((d) => d.modelId)));
    return {
      workerId: hb.workerId,
      diskFreeBytes: hb.diskFreeBytes,
      largestVramGb: gpus.length > 0 ? Math.max(...gpus) : null,
      queuedLoads: downloads.size,
      installed: hb.backends.some((b) => b.installed.includes(modelId)),
      downloading: downloads.has(modelId),
      inRotation: hb.backends.some((b) => !b.breakerOpen && b.health !== 'critical'),
    };
  });
}
