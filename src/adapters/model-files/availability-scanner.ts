import { stat } from 'node:fs/promises';
import { EventEmitter, type Event, type IDisposable } from 'cockatiel';
import type { AvailabilitySnapshot, AvailabilitySource, ModelStatus } from '../../core/availability.js';
import type { ModelDescriptor, ModelFile } from '../../core/catalog.js';
import type { Clock } from '../../core/clock.js';
import type { ModelAvailability } from '../../core/vocabulary.js';
import { DigestCache } from './digest-cache.js';
import { isModelPathError } from './download-errors.js';
import { ifExists } from './if-exists.js';
import type { DownloadMonitor, DownloadState } from './downloader.js';
import { sha256File, type FileHasher } from './file-digest.js';
import type { ModelsDirectory } from './models-directory.js';
import { SEGMENTS_SUFFIX, readSegmentRecord } from './segment-record.js';

/** How hard a scan checks complete files: `size` compares sizes (and trusts cached digests), `sha256` hashes them. */
export type VerifyMode = 'size' | 'sha256';

/** What is known about one file of a model. */
export interface FileStatus {
  /** Catalog path. */
  readonly path: string;
  readonly status: ModelAvailability;
  /** Bytes on disk that count toward the file: the complete file, or the partial download so far. */
  readonly bytesPresent: number;
  readonly bytesTotal: number;
  /** True when the sha256 matched, computed now or taken from the digest cache. */
  readonly verified: boolean;
  /** Why the file is corrupted or failed. */
  readonly detail?: string;
}

/** What an {@link AvailabilityScanner} reads. */
export interface AvailabilityScannerOptions {
  /** The models to report; a function is called on each scan so catalog reloads are seen. */
  models: readonly ModelDescriptor[] | (() => readonly ModelDescriptor[]);
  directory: ModelsDirectory;
  clock: Clock;
  /** Digests by path, size and mtime. Default: a cache in memory. */
  digestCache?: DigestCache;
  /** Default {@link sha256File}. */
  hasher?: FileHasher;
  /** The downloader, whose live states override what the disk shows. */
  downloads?: DownloadMonitor;
}

/** Model statuses, most pressing first: a model takes the first status any of its files has. */
const MODEL_STATUS_ORDER: readonly ModelAvailability[] = ['failed', 'corrupted', 'downloading', 'verifying', 'paused', 'partial'];

/**
 * Model availability from the files on disk. A model with files is `available` when every file is complete,
 * `missing` when none has any bytes, `partial` when some bytes are there; `corrupted` when a file has the wrong size
 * or sha256; `downloading`, `verifying`, `paused` or `failed` while the downloader says so. Models whose catalog
 * entry lists no files are left to other sources. Every change goes out on {@link onModelStatus}.
 */
export class AvailabilityScanner implements AvailabilitySource, IDisposable {
  private readonly directory: ModelsDirectory;
  private readonly clock: Clock;
  private readonly digestCache: DigestCache;
  private readonly hasher: FileHasher;
  private readonly downloads: DownloadMonitor | undefined;
  private readonly models: () => readonly ModelDescriptor[];
  private readonly fromDisk = new Map<string, FileStatus>();
  private readonly published = new Map<string, ModelStatus>();
  private readonly emitter = new EventEmitter<ModelStatus>();
  private readonly subscription: IDisposable | undefined;

  /** Fires with a model's status whenever its status, bytes present or detail changes. */
  readonly onModelStatus: Event<ModelStatus> = this.emitter.addListener;

  constructor(options: AvailabilityScannerOptions) {
    const models = options.models;
    this.models = typeof models === 'function' ? models : () => models;
    this.directory = options.directory;
    this.clock = options.clock;
    this.digestCache = options.digestCache ?? DigestCache.inMemory();
    this.hasher = options.hasher ?? sha256File;
    this.downloads = options.downloads;
    this.subscription = this.downloads?.onStateChange((state) => void this.onDownloadState(state));
  }

  /** Checks every file of every model on disk (sizes only, or sha256 too) and returns the statuses. */
  async scan(options: { verify?: VerifyMode; signal?: AbortSignal } = {}): Promise<AvailabilitySnapshot> {
    const verify = options.verify ?? 'size';
    for (const model of this.models()) {
      for (const file of model.files) {
        const active = this.activeDownload(file.path) !== undefined;
        this.fromDisk.set(file.path, await this.checkFile(file, active ? 'size' : verify, options.signal));
      }
    }
    return this.publish();
  }

  /** Statuses after a quick scan (sizes, and digests already cached) with live download states. */
  snapshot(): Promise<AvailabilitySnapshot> {
    return this.scan({ verify: 'size' });
  }

  /** The files of `modelId` as of the last scan, with live download states. */
  fileStatuses(modelId: string): FileStatus[] {
    const model = this.models().find((m) => m.id === modelId);
    return model ? model.files.map((file) => this.fileStatus(file)) : [];
  }

  /** Stops following the downloader. */
  dispose(): void {
    this.subscription?.dispose();
  }

  private async onDownloadState(state: DownloadState): Promise<void> {
    const file = this.models()
      .flatMap((m) => m.files)
      .find((f) => f.path === state.path);
    if (!file) return;
    if (state.phase === 'completed' || state.phase === 'cancelled' || state.phase === 'failed') {
      this.fromDisk.set(file.path, await this.checkFile(file, 'size'));
    }
    this.publish();
  }

  private async checkFile(file: ModelFile, verify: VerifyMode, signal?: AbortSignal): Promise<FileStatus> {
    const base = { path: file.path, bytesTotal: file.sizeBytes, verified: false };
    try {
      const { absolutePath, partPath } = await this.directory.resolve(file.path);
      const info = await ifExists(stat(absolutePath));
      if (info === undefined) {
        // A segmented `.part` is sparse: its record, not its size, says how many bytes are there.
        const record = await readSegmentRecord(partPath + SEGMENTS_SUFFIX, file);
        const partBytes = record
          ? record.segments.reduce((sum, segment) => sum + segment.done, 0)
          : Math.min((await ifExists(stat(partPath)))?.size ?? 0, file.sizeBytes);
        return { ...base, status: partBytes > 0 ? 'partial' : 'missing', bytesPresent: partBytes };
      }
      if (!info.isFile()) return { ...base, status: 'corrupted', bytesPresent: 0, detail: `${file.path} is not a regular file` };
      if (info.size !== file.sizeBytes) {
        return { ...base, status: 'corrupted', bytesPresent: 0, detail: `${file.path} has ${info.size} bytes, expected ${file.sizeBytes}` };
      }
      const sha256 =
        verify === 'sha256'
          ? (await this.digestCache.digestOf(absolutePath, this.hasher, signal)).sha256
          : this.digestCache.get(absolutePath, info);
      if (sha256 === undefined) return { ...base, status: 'available', bytesPresent: info.size };
      if (sha256 === file.sha256) return { ...base, status: 'available', bytesPresent: info.size, verified: true };
      return {
        ...base,
        status: 'corrupted',
        bytesPresent: 0,
        detail: `${file.path} has sha256 ${sha256}, expected ${file.sha256}`,
      };
    } catch (error) {
      if (signal?.aborted) throw error;
      if (isModelPathError(error)) return { ...base, status: 'failed', bytesPresent: 0, detail: error.message };
      return { ...base, status: 'failed', bytesPresent: 0, detail: `Cannot check ${file.path}: ${(error as Error).message}` };
    }
  }

  private activeDownload(path: string): DownloadState | undefined {
    const state = this.downloads?.stateOf(path);
    return state && state.phase !== 'completed' && state.phase !== 'cancelled' ? state : undefined;
  }

  /** The disk's view of a file, overridden by a download under way or failed. */
  private fileStatus(file: ModelFile): FileStatus {
    const disk = this.fromDisk.get(file.path) ?? { path: file.path, status: 'unknown', bytesPresent: 0, bytesTotal: file.sizeBytes, verified: false };
    const download = this.activeDownload(file.path);
    if (!download) return disk;
    if (download.phase === 'failed') return { ...disk, status: 'failed', detail: download.error?.message ?? 'download failed' };
    const status: ModelAvailability =
      download.phase === 'paused' ? 'paused' : download.phase === 'verifying' ? 'verifying' : 'downloading';
    return { path: file.path, status, bytesPresent: download.bytesDone, bytesTotal: file.sizeBytes, verified: false };
  }

  private modelStatus(model: ModelDescriptor): ModelStatus {
    const files = model.files.map((file) => this.fileStatus(file));
    const has = (status: ModelAvailability): boolean => files.some((f) => f.status === status);
    const status: ModelAvailability =
      MODEL_STATUS_ORDER.find(has) ??
      (files.every((f) => f.status === 'available')
        ? 'available'
        : files.every((f) => f.status === 'missing')
          ? 'missing'
          : files.some((f) => f.status === 'unknown')
            ? 'unknown'
            : 'partial');
    const details = files.filter((f) => f.status === status && f.detail !== undefined).map((f) => f.detail);
    let speed: number | undefined;
    for (const file of model.files) {
      const bytesPerSecond = this.activeDownload(file.path)?.bytesPerSecond;
      if (bytesPerSecond !== undefined) speed = (speed ?? 0) + bytesPerSecond;
    }
    return {
      modelId: model.id,
      status,
      bytesPresent: files.reduce((sum, f) => sum + f.bytesPresent, 0),
      bytesTotal: files.reduce((sum, f) => sum + f.bytesTotal, 0),
      ...(speed === undefined ? {} : { downloadBytesPerSecond: speed }),
      ...(details.length ? { detail: details.join('; ') } : {}),
      updatedAt: this.clock.now(),
    };
  }

  /** Builds the snapshot and emits every model status that changed since last published. */
  private publish(): AvailabilitySnapshot {
    const snapshot = new Map<string, ModelStatus>();
    for (const model of this.models()) {
      if (model.files.length === 0) continue;
      let current = this.modelStatus(model);
      const previous = this.published.get(model.id);
      if (previous && sameStatus(previous, current)) current = previous;
      else {
        this.published.set(model.id, current);
        this.emitter.emit(current);
      }
      snapshot.set(model.id, current);
    }
    return snapshot;
  }
}

function sameStatus(a: ModelStatus, b: ModelStatus): boolean {
  return (
    a.status === b.status &&
    a.bytesPresent === b.bytesPresent &&
    a.bytesTotal === b.bytesTotal &&
    a.detail === b.detail &&
    a.downloadBytesPerSecond === b.downloadBytesPerSecond
  );
}
