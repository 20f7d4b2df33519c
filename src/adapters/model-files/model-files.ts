import { join } from 'node:path';
import type { Event } from 'cockatiel';
import type { AvailabilitySnapshot, ModelStatus } from '../../core/availability.js';
import type { ModelFileStore, VerifiedModel } from '../../runtime/model-file-store.js';
import type { Catalog } from '../../core/catalog.js';
import type { Clock } from '../../core/clock.js';
import { ValidationError } from '../../core/validation.js';
import { AvailabilityScanner } from './availability-scanner.js';
import { DigestCache } from './digest-cache.js';
import { ModelDownloader, type DownloaderOptions, type DownloadProgress, type DownloadResult } from './downloader.js';
import { ModelsDirectory, type ModelsDirectoryOptions } from './models-directory.js';

/** Where model files live and how they are fetched. */
export interface ModelFilesOptions {
  catalog: Catalog;
  clock: Clock;
  /** Models directory and its layout. */
  directory: ModelsDirectoryOptions;
  /** Where the digest cache is kept. */
  dataDir: string;
  downloader?: DownloaderOptions;
  random?: () => number;
}

/**
 * The models directory as one thing: availability from the files on disk, resumable verified downloads of a whole
 * model, and full sha256 verification. Models whose catalog entry lists no files are not its concern.
 */
export class ModelFiles implements ModelFileStore {
  readonly downloader: ModelDownloader;
  readonly scanner: AvailabilityScanner;
  /** Download progress: bytes, smoothed speed, ETA. */
  readonly onProgress: Event<DownloadProgress>;
  /** Every change of a model's status. */
  readonly onModelStatus: Event<ModelStatus>;

  private constructor(
    private readonly catalog: Catalog,
    downloader: ModelDownloader,
    scanner: AvailabilityScanner,
  ) {
    this.downloader = downloader;
    this.scanner = scanner;
    this.onProgress = downloader.onProgress;
    this.onModelStatus = scanner.onModelStatus;
  }

  /** Opens the models directory and the digest cache. */
  static async open(options: ModelFilesOptions): Promise<ModelFiles> {
    const directory = new ModelsDirectory(options.directory);
    const digestCache = await DigestCache.open(join(options.dataDir, 'model-digests.json'));
    const downloader = new ModelDownloader(
      { directory, clock: options.clock, digestCache, ...(options.random ? { random: options.random } : {}) },
      options.downloader,
    );
    const scanner = new AvailabilityScanner({ models: () => options.catalog.models, directory, clock: options.clock, digestCache, downloads: downloader });
    return new ModelFiles(options.catalog, downloader, scanner);
  }

  /** Whether the catalog lists files for `modelId` (and so this manages its availability). */
  manages(modelId: string): boolean {
    return (this.catalog.byId.get(modelId)?.files.length ?? 0) > 0;
  }

  snapshot(): Promise<AvailabilitySnapshot> {
    return this.scanner.snapshot();
  }

  /** Downloads every missing or incomplete file of `modelId`, resuming partial ones; resolves once all are verified. */
  async ensureModelDownloaded(modelId: string, signal?: AbortSignal): Promise<DownloadResult[]> {
    const model = this.catalog.byId.get(modelId);
    if (!model || model.files.length === 0) {
      throw new ValidationError('download', [{ field: 'model', problem: 'expected a catalog model that lists files with their sources', received: modelId }]);
    }
    return this.downloader.downloadModel(model, signal);
  }

  /** Checks every file of `modelId` by sha256 (cached by size and mtime) and reports what it found. */
  async verify(modelId: string, signal?: AbortSignal): Promise<VerifiedModel> {
    if (!this.manages(modelId)) {
      throw new ValidationError('verify', [{ field: 'model', problem: 'expected a catalog model that lists files', received: modelId }]);
    }
    const snapshot = await this.scanner.scan({ verify: 'sha256', ...(signal ? { signal } : {}) });
    return {
      status: snapshot.get(modelId) ?? { modelId, status: 'unknown' },
      files: this.scanner.fileStatuses(modelId).map((f) => ({
        path: f.path,
        status: f.status,
        bytesPresent: f.bytesPresent,
        bytesTotal: f.bytesTotal,
        verified: f.verified,
        ...(f.detail ? { detail: f.detail } : {}),
      })),
    };
  }
}
