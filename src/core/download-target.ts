/**
 * Where to download a model in a cluster: a pure choice over what live workers announce. A worker that has the model
 * or is downloading it already wins outright (one download per model is enough); otherwise the worker with room on
 * disk and a GPU the model fits, with the fewest downloads queued, then the most free disk.
 */
import { formatBytes } from './estimates.js';

/** What the choice needs to know about one live worker. */
export interface DownloadCandidate {
  workerId: string;
  /** Free bytes on the disk that holds its models; null when the worker could not tell. */
  diskFreeBytes: number | null;
  /** GPU memory of its largest backend, GB; null when none reports a GPU. */
  largestVramGb: number | null;
  /** Model downloads under way or queued on it. */
  queuedLoads: number;
  /** The model is installed there. */
  installed: boolean;
  /** The model is downloading there. */
  downloading: boolean;
  /** It can take work: some backend's breaker is closed and its health is not critical. */
  inRotation: boolean;
}

/** The model to place. */
export interface DownloadNeed {
  modelId: string;
  /** Bytes its files take. */
  bytes: number;
  /** GPU memory it needs at the settings it will run with, GB. */
  vramGb: number;
}

/** Options of {@link chooseDownloadTarget}. */
export interface DownloadTargetOptions {
  /** Free disk to leave beyond the model's files, bytes (default 2 GiB). */
  diskHeadroomBytes?: number;
}

/** Why one worker was or was not chosen. */
export interface ConsideredWorker {
  workerId: string;
  eligible: boolean;
  reason: string;
}

/** The outcome, with every worker considered and why. */
export type DownloadTargetChoice = { considered: ConsideredWorker[] } & (
  | { kind: 'installed' | 'downloading' | 'download'; workerId: string }
  | { kind: 'none'; reason: string }
);

const DEFAULT_HEADROOM_BYTES = 2 * 1024 ** 3;

/** Picks the worker to download `need` on, or the one that already has it or is fetching it. */
export function chooseDownloadTarget(need: DownloadNeed, candidates: readonly DownloadCandidate[], options: DownloadTargetOptions = {}): DownloadTargetChoice {
  const live = candidates.filter((c) => c.inRotation);
  const considered = candidates.map((c) => consider(need, c, options.diskHeadroomBytes ?? DEFAULT_HEADROOM_BYTES));
  const holder = sortById(live.filter((c) => c.installed))[0] ?? sortById(live.filter((c) => c.downloading))[0];
  if (holder) return { kind: holder.installed ? 'installed' : 'downloading', workerId: holder.workerId, considered };
  const eligible = candidates.filter((_, i) => considered[i]?.eligible);
  const best = [...eligible].sort(
    (a, b) =>
      a.queuedLoads - b.queuedLoads ||
      Number(a.diskFreeBytes === null) - Number(b.diskFreeBytes === null) ||
      (b.diskFreeBytes ?? 0) - (a.diskFreeBytes ?? 0) ||
      a.workerId.localeCompare(b.workerId),
  )[0];
  if (best) return { kind: 'download', workerId: best.workerId, considered };
  const reason = candidates.length === 0 ? 'no worker is live' : `no live worker can take ${need.modelId}: ${considered.map((c) => `${c.workerId} ${c.reason}`).join('; ')}`;
  return { kind: 'none', reason, considered };
}

function consider(need: DownloadNeed, c: DownloadCandidate, headroom: number): ConsideredWorker {
  const no = (reason: string): ConsideredWorker => ({ workerId: c.workerId, eligible: false, reason });
  if (!c.inRotation) return no('is out of rotation (breakers open or critical health)');
  if (c.installed) return { workerId: c.workerId, eligible: true, reason: `has ${need.modelId} installed` };
  if (c.downloading) return { workerId: c.workerId, eligible: true, reason: `is downloading ${need.modelId}` };
  if (c.largestVramGb === null) return no('reports no GPU');
  if (c.largestVramGb < need.vramGb) return no(`has ${c.largestVramGb} GB of GPU memory, ${need.modelId} needs ${round(need.vramGb)} GB`);
  if (c.diskFreeBytes !== null && c.diskFreeBytes < need.bytes + headroom) {
    return no(`has ${formatBytes(c.diskFreeBytes)} free, ${need.modelId} needs ${formatBytes(need.bytes)} plus ${formatBytes(headroom)} headroom`);
  }
  const disk = c.diskFreeBytes === null ? 'free disk unknown' : `${formatBytes(c.diskFreeBytes)} free`;
  return { workerId: c.workerId, eligible: true, reason: `fits (${disk}, ${c.queuedLoads} download(s) queued)` };
}

function sortById(list: DownloadCandidate[]): DownloadCandidate[] {
  return list.sort((a, b) => a.workerId.localeCompare(b.workerId));
}

function round(gb: number): number {
  return Math.round(gb * 10) / 10;
}
