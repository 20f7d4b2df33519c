/**
 * Downloads where the GPU is: a gateway places a model's download on one live worker (chooseDownloadTarget over the
 * directory's heartbeats: a worker that has the model or fetches it already, else one with room on disk and a GPU
 * the model fits, with the fewest downloads queued), asks it through its control channel, and follows it in the
 * heartbeats until some live worker has the model installed. When the chosen worker leaves the directory (it died or
 * was stopped), the download is placed again on another. The worker that fetched the model releases the jobs waiting
 * for it; they sit in that model's queue, which only workers that have the model claim from.
 */
import type { Catalog } from '../../core/catalog.js';
import { sleep, type Clock } from '../../core/clock.js';
import { chooseDownloadTarget, type DownloadNeed, type DownloadTargetOptions } from '../../core/download-target.js';
import { GIB } from '../../core/estimates.js';
import { untilAborted } from '../backend.js';
import type { UnderstudyEvent } from '../engine-events.js';
import type { DownloadPlacement } from '../model-downloads.js';
import { downloadCandidates } from './download-candidates.js';
import type { WorkerControl } from './worker-control.js';
import type { WorkerDirectory } from './worker-directory.js';
import type { WorkerHeartbeat } from './worker-heartbeat.js';

/** Options of {@link ClusterDownloads}. */
export interface ClusterDownloadsOptions extends DownloadTargetOptions {
  directory: WorkerDirectory;
  control: WorkerControl;
  catalog: Catalog;
  clock: Clock;
  /** Receives `download.placed` events. */
  emit: (event: UnderstudyEvent) => void;
  /** Clock time between reads of the directory while a download is followed, ms (default 1000). */
  pollMs?: number;
  /**
   * How long the chosen worker may show neither the model nor its download, with no request pending there, before
   * the download counts as failed on it, ms (default 15 000: heartbeats lag the download's end by up to one beat).
   */
  settleMs?: number;
  /**
   * The jobs waiting for the model (the store's; see download-placement-timeline.ts), told where it downloads: at each
   * placement, and again whenever the number waiting has changed since, so jobs that start waiting later learn it
   * too. Default: none.
   */
  waiting?: WaitingJobs;
  /** A read of the directory or a request that failed (Redis down); the download keeps following. Default: ignored. */
  onError?: (error: unknown) => void;
}

/** The `download.placed` event. */
export type DownloadPlaced = Extract<UnderstudyEvent, { type: 'download.placed' }>;

/** The jobs that wait for a model, as a placement tells them. */
export interface WaitingJobs {
  /** How many jobs wait for `modelId` now (a cheap count). */
  count(modelId: string): Promise<number>;
  /** Tells every job waiting for the placed model that has not been told this placement yet. */
  note(placed: DownloadPlaced): Promise<void>;
}

/** Thrown when the worker a download was placed on could not download the model. */
export class WorkerDownloadError extends Error {
  override readonly name = 'WorkerDownloadError';

  constructor(
    readonly modelId: string,
    readonly workerId: string,
  ) {
    super(`${workerId} could not download ${modelId}: its request ended without the model installed (see its model.status event and log)`);
  }
}

/** Type guard for {@link WorkerDownloadError}. */
export function isWorkerDownloadError(error: unknown): error is WorkerDownloadError {
  return error instanceof WorkerDownloadError;
}

/** Places downloads on live workers; one placement per model at a time (the engine's ModelDownloads shares it). */
export class ClusterDownloads implements DownloadPlacement {
  private readonly pollMs: number;
  private readonly settleMs: number;

  constructor(private readonly options: ClusterDownloadsOptions) {
    this.pollMs = options.pollMs ?? 1000;
    this.settleMs = options.settleMs ?? 15_000;
  }

  /** A known model can be placed whenever workers come to be live; placing it waits for one. */
  canPlace(modelId: string): boolean {
    return this.options.catalog.byId.has(modelId);
  }

  /**
   * Resolves once a live worker has `modelId` installed. While no live worker can take it, says why once
   * (`download.placed` with a null worker) and places it when one can. Rejects with {@link WorkerDownloadError} when the
   * chosen worker's download ended without the model, or when `signal` aborts.
   */
  place(modelId: string, signal: AbortSignal): Promise<void> {
    return untilAborted(this.follow(modelId, signal), signal);
  }

  private async follow(modelId: string, signal: AbortSignal): Promise<void> {
    const need = this.needOf(modelId);
    let placed: DownloadPlaced | undefined;
    let noted: { placed: DownloadPlaced; waiting: number } | undefined;
    let settlingSince: number | undefined;
    for (;;) {
      const live = await this.live();
      if (live) {
        if (live.some((hb) => hb.backends.some((b) => b.installed.includes(modelId)))) return;
        const target = placed?.workerId;
        const here = target ? live.find((hb) => hb.workerId === target) : undefined;
        if (here && !downloads(here, modelId)) {
          // The target is live but shows no download: pending in its channel, or ended (failed, or not yet in a beat).
          const state = await this.options.control.downloadState(here.workerId, modelId).catch((e: unknown) => this.failed(e));
          if (state === 'none') {
            settlingSince ??= this.options.clock.now();
            if (this.options.clock.now() - settlingSince >= this.settleMs) throw new WorkerDownloadError(modelId, here.workerId);
          } else settlingSince = undefined;
        } else settlingSince = undefined;
        if (!here) placed = (await this.choose(need, live, target)) ?? placed;
        if (placed) noted = await this.tellWaiting(placed, noted);
      }
      await sleep(this.options.clock, this.pollMs, signal);
    }
  }

  /** Tells the waiting jobs of a new placement, or of one they were told when fewer or more of them waited. */
  private async tellWaiting(
    placed: DownloadPlaced,
    noted: { placed: DownloadPlaced; waiting: number } | undefined,
  ): Promise<{ placed: DownloadPlaced; waiting: number } | undefined> {
    const { waiting } = this.options;
    if (!waiting) return noted;
    try {
      const count = await waiting.count(placed.modelId);
      if (noted?.placed === placed && noted.waiting === count) return noted;
      await waiting.note(placed);
      return { placed, waiting: count };
    } catch (error) {
      this.failed(error);
      return noted;
    }
  }

  /**
   * Chooses a worker and asks it; returns the placement announced (null worker: none can), or undefined when nothing
   * changed (still none) or the request failed (tried again at the next read).
   */
  private async choose(need: DownloadNeed, live: WorkerHeartbeat[], previous: string | null | undefined): Promise<DownloadPlaced | undefined> {
    const choice = chooseDownloadTarget(need, downloadCandidates(live, need.modelId), this.options);
    const at = this.options.clock.now();
    let placed: DownloadPlaced;
    if (choice.kind === 'none') {
      if (previous === null) return undefined;
      placed = { type: 'download.placed', at, modelId: need.modelId, workerId: null, message: `waiting for a worker that can download it: ${choice.reason}` };
    } else {
      if (choice.kind === 'download') {
        const asked = await this.options.control.requestDownload(choice.workerId, need.modelId).then(
          () => true,
          (e: unknown) => this.failed(e) ?? false,
        );
        if (!asked) return undefined;
      }
      const why = choice.considered.find((c) => c.workerId === choice.workerId)?.reason ?? choice.kind;
      const moved = previous ? ` (${previous} left)` : '';
      placed = { type: 'download.placed', at, modelId: need.modelId, workerId: choice.workerId, message: `${need.modelId} downloads on ${choice.workerId}${moved}: it ${why}` };
    }
    this.options.emit(placed);
    return placed;
  }

  private needOf(modelId: string): DownloadNeed {
    const model = this.options.catalog.byId.get(modelId);
    if (!model) throw new RangeError(`unknown model "${modelId}"`);
    const listed = model.files.reduce((n, f) => n + f.sizeBytes, 0);
    return { modelId, bytes: listed > 0 ? listed : model.sizeGb * GIB, vramGb: model.baseVramGb };
  }

  private async live(): Promise<WorkerHeartbeat[] | undefined> {
    return this.options.directory.live().catch((e: unknown) => this.failed(e));
  }

  private failed(error: unknown): undefined {
    this.options.onError?.(error);
    return undefined;
  }
}

function downloads(hb: WorkerHeartbeat, modelId: string): boolean {
  return hb.backends.some((b) => b.downloading.some((d) => d.modelId === modelId));
}
