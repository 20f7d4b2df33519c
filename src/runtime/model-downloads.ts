import { EventEmitter, type Event } from 'cockatiel';
import type { Clock } from '../core/clock.js';
import type { EstimateLearner } from '../core/learner.js';
import { untilAborted, type Backend } from './backend.js';
import { reportBackendDownload } from './backend-download-progress.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { Job } from './job.js';
import type { JobStore } from './job-store.js';
import type { RecoveryDownloads } from './recovery/fallback-recovery-system.js';
import type { ModelFilePresence } from './model-file-presence.js';
import type { ModelFileStore } from './model-file-store.js';

/** What {@link ModelDownloads} works with. */
export interface ModelDownloadsOptions {
  clock: Clock;
  store: JobStore;
  /** The backends; the first that downloads models itself fetches models whose files Understudy does not manage. */
  backends: readonly Backend[];
  /** The models directory, when Understudy manages model files itself. */
  files?: ModelFileStore;
  /** Read again after each download into the models directory. */
  presence?: ModelFilePresence;
  /** Learns the download speed from downloads of real files. */
  learner: EstimateLearner;
  emit: (event: UnderstudyEvent) => void;
  /** Clock time between progress readings of a backend's own download, ms (default 500). */
  progressIntervalMs?: number;
  /**
   * Where downloads run when this process is one of a cluster (a gateway places them on workers). Without it, every
   * download runs here. With it, {@link ModelDownloads.download} places and {@link ModelDownloads.downloadHere} runs here.
   */
  placement?: DownloadPlacement;
}

/** Port: runs a model's download on some machine of a cluster and resolves once one has the model installed. */
export interface DownloadPlacement {
  /** Whether `modelId` can be placed at all (a known model). */
  canPlace(modelId: string): boolean;
  /** Places the download and resolves once some machine has the model; `signal` stops following it. */
  place(modelId: string, signal: AbortSignal): Promise<void>;
}

/** A download under way and its last reported progress. */
export interface DownloadInProgress {
  modelId: string;
  bytesDone: number;
  /** Null until the first progress report. */
  bytesTotal: number | null;
  /** Null while the speed is not measured yet. */
  etaSeconds: number | null;
}

/**
 * Model downloads: one download per model at a time, through the models directory when the catalog lists the
 * model's files, else through the backend that downloads models. Announces `model.status` and `download.progress`,
 * and when a model becomes ready releases the jobs waiting for it (`job.released`) and fires {@link onReleased}. The
 * engine, the scheduler and recovery's `retry_model_download` all download through here.
 */
export class ModelDownloads implements RecoveryDownloads {
  private readonly running = new Map<string, Promise<void>>();
  private readonly placing = new Map<string, Promise<void>>();
  private readonly progress = new Map<string, DownloadInProgress>();
  private readonly shutdown = new AbortController();
  private readonly releasedEmitter = new EventEmitter<{ modelId: string; jobs: readonly Job[] }>();
  /** Fires after jobs waiting for a model were released (the scheduler wakes on it). */
  readonly onReleased: Event<{ modelId: string; jobs: readonly Job[] }> = this.releasedEmitter.addListener;

  constructor(private readonly options: ModelDownloadsOptions) {
    options.files?.onProgress((p) => {
      if (!p.modelId) return;
      this.emit({ type: 'download.progress', at: p.at, modelId: p.modelId, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, bytesPerSecond: p.bytesPerSecond ?? 0, etaSeconds: p.etaSeconds ?? null });
    });
  }

  /**
   * Downloads a model, joining a download already under way; resolves once it is available and its waiting jobs are
   * released. With a {@link ModelDownloadsOptions.placement}, the download runs where the placement puts it. `signal`
   * stops the wait, not the download, which others may share.
   */
  download(modelId: string, signal?: AbortSignal): Promise<void> {
    const { placement } = this.options;
    if (!placement) return this.downloadHere(modelId, signal);
    const shared = this.placing.get(modelId) ?? this.place(placement, modelId);
    return signal ? untilAborted(shared, signal) : shared;
  }

  /** Downloads a model on this machine (what a worker does when a gateway asks it), as {@link download} does alone. */
  downloadHere(modelId: string, signal?: AbortSignal): Promise<void> {
    const shared = this.running.get(modelId) ?? this.start(modelId);
    return signal ? untilAborted(shared, signal) : shared;
  }

  /** The downloads under way, with their last progress report. */
  inProgress(): DownloadInProgress[] {
    return [...this.running.keys()].map((modelId) => this.progress.get(modelId) ?? { modelId, bytesDone: 0, bytesTotal: null, etaSeconds: null });
  }

  /** Whether anything can download `modelId`: the placement places it, the models directory manages its files, or a backend downloads models. */
  canDownload(modelId: string): boolean {
    if (this.options.placement) return this.options.placement.canPlace(modelId);
    return this.options.files?.manages(modelId) === true || this.downloadingBackend() !== undefined;
  }

  /** Starts a download in the background; a failure is announced as a `model.status` event, and waiting jobs expire at their deadline. */
  request(modelId: string): void {
    this.download(modelId).catch(() => undefined);
  }

  /** Queues the jobs waiting for `modelId`, which is ready, and announces them. */
  async release(modelId: string, now = this.options.clock.now()): Promise<Job[]> {
    const jobs = await this.options.store.releaseWaiting(modelId, now);
    for (const job of jobs) {
      this.options.emit({ type: 'job.released', at: now, jobId: job.id, status: job.status, model: modelId, message: `${modelId} is ready` });
    }
    this.releasedEmitter.emit({ modelId, jobs });
    return jobs;
  }

  /** Aborts every download under way (the engine is closing). */
  close(): void {
    this.shutdown.abort(new Error('engine closed'));
  }

  private place(placement: DownloadPlacement, modelId: string): Promise<void> {
    const placed = placement.place(modelId, this.shutdown.signal).finally(() => this.placing.delete(modelId));
    this.placing.set(modelId, placed);
    return placed;
  }

  private start(modelId: string): Promise<void> {
    const { clock, emit, files } = this.options;
    const managed = files?.manages(modelId) === true;
    const source = managed ? 'models directory' : this.downloadingBackend()?.id;
    if (!source) return Promise.reject(new Error(`no way to download ${modelId}: the catalog lists no files and no backend downloads models`));
    emit({ type: 'model.status', at: clock.now(), modelId, status: 'downloading', backendId: source });
    const work = managed ? this.fetchFiles(modelId) : this.backendDownload(modelId);
    const done = work
      .then(async () => {
        emit({ type: 'model.status', at: clock.now(), modelId, status: 'available', backendId: source });
        await this.release(modelId);
      })
      .catch((error: unknown) => {
        emit({ type: 'model.status', at: clock.now(), modelId, status: 'failed', backendId: source });
        throw error;
      })
      .finally(() => {
        this.running.delete(modelId);
        this.progress.delete(modelId);
      });
    this.running.set(modelId, done);
    return done;
  }

  /** The model's files into the models directory; the bytes fetched teach the learner the download speed. */
  private async fetchFiles(modelId: string): Promise<void> {
    const started = this.options.clock.now();
    const results = await (this.options.files as ModelFileStore).ensureModelDownloaded(modelId, this.shutdown.signal);
    const fetched = results.filter((r) => !r.reused).reduce((n, r) => n + r.bytes, 0);
    this.options.learner.recordDownload(fetched, (this.options.clock.now() - started) / 1000);
    await this.options.presence?.refresh();
  }

  /** A download the backend runs itself, reported as progress events while it runs. */
  private backendDownload(modelId: string): Promise<void> {
    const backend = this.downloadingBackend() as Backend & Required<Pick<Backend, 'ensureModelDownloaded'>>;
    const stopReporting = reportBackendDownload(backend, modelId, { clock: this.options.clock, emit: this.emit, intervalMs: this.options.progressIntervalMs ?? 500 });
    return backend.ensureModelDownloaded(modelId, this.shutdown.signal).finally(stopReporting);
  }

  /** Emits an event, keeping the last progress of each download for {@link inProgress}. */
  private readonly emit = (event: UnderstudyEvent): void => {
    if (event.type === 'download.progress' && this.running.has(event.modelId)) {
      this.progress.set(event.modelId, { modelId: event.modelId, bytesDone: event.bytesDone, bytesTotal: event.bytesTotal, etaSeconds: event.etaSeconds });
    }
    this.options.emit(event);
  };

  private downloadingBackend(): Backend | undefined {
    return this.options.backends.find((b) => b.ensureModelDownloaded);
  }
}
