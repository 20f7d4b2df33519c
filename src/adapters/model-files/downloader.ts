// Over 400 lines for one reason: it is the downloader's queue, verification and retry policy for whole files; the transfer itself is in file-transfer.ts.
import { mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EventEmitter, type Event } from 'cockatiel';
import PQueue from 'p-queue';
import type { ModelDescriptor, ModelFile } from '../../core/catalog.js';
import type { Clock } from '../../core/clock.js';
import { parseOrThrow } from '../../core/validation.js';
import type { ModelFileProgress } from '../../runtime/model-file-store.js';
import { DigestCache } from './digest-cache.js';
import { DownloaderOptionsSchema, type DownloaderOptions, type ResolvedOptions } from './downloader-options.js';
import { DownloadError, fileSystemError, isDownloadError, isModelPathError } from './download-errors.js';
import { FileTransfer, type TransferObserver } from './file-transfer.js';
import { HttpConnections } from './http-connections.js';
import { ifExists } from './if-exists.js';
import type { ModelsDirectory, ResolvedModelFile } from './models-directory.js';
import { SEGMENTS_SUFFIX, removeSegmentRecord } from './segment-record.js';
import { TransferRate } from './transfer-rate.js';

const GIB = 1024 ** 3;

export { DownloaderOptionsSchema, PEM_CERTIFICATE_LINE, RequestHeadersSchema, type DownloaderOptions } from './downloader-options.js';

/** Free bytes on the file system holding `directory`. */
export type FreeSpaceProbe = (directory: string) => Promise<number>;

/** The default {@link FreeSpaceProbe}: `fs.statfs`, space available to unprivileged users. */
export const statfsFreeBytes: FreeSpaceProbe = async (directory) => {
  const info = await statfs(directory);
  return info.bavail * info.bsize;
};

/** What a {@link ModelDownloader} is built on. */
export interface DownloaderDependencies {
  directory: ModelsDirectory;
  clock: Clock;
  /** Uniform random numbers in [0, 1) for backoff jitter. Default `Math.random`. */
  random?: () => number;
  /** Default {@link statfsFreeBytes}. */
  freeBytes?: FreeSpaceProbe;
  /** Where verified digests are recorded so scans need not hash the file again. Default: a cache in memory. */
  digestCache?: DigestCache;
}

/**
 * Where a download stands. `queued` waits for a slot; `retrying` waits out a backoff; `verifying` checks a file
 * already in place, or finishes the digest of the downloaded one.
 */
export type DownloadPhase = 'queued' | 'downloading' | 'retrying' | 'paused' | 'verifying' | 'completed' | 'failed' | 'cancelled';

/** A download's state, sent on every phase change. */
export interface DownloadState {
  /** Catalog path of the file. */
  readonly path: string;
  readonly modelId?: string;
  readonly phase: DownloadPhase;
  /** Bytes of the file written to disk so far. */
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** Smoothed speed, bytes per second. */
  readonly bytesPerSecond?: number;
  /** Seconds left at the smoothed speed. */
  readonly etaSeconds?: number;
  /** HTTP attempts made. */
  readonly attempt: number;
  /** When the next attempt starts (epoch ms), while `retrying`. */
  readonly retryAt?: number;
  /** Why the last attempt failed (`retrying`) or the download failed (`failed`, `cancelled`). */
  readonly error?: DownloadError;
  /** Epoch ms of this state, from the Clock. */
  readonly updatedAt: number;
}

/** Periodic progress of a transfer: the port's progress record (speed smoothed by EWMA, time from the Clock) and the file. */
export interface DownloadProgress extends ModelFileProgress {
  readonly path: string;
}

/** A file that is now complete and verified. */
export interface DownloadResult {
  readonly path: string;
  readonly absolutePath: string;
  readonly sha256: string;
  readonly bytes: number;
  /** True when a verified file was already there and nothing was fetched. */
  readonly reused: boolean;
}

/** What the availability scanner reads from a downloader. */
export interface DownloadMonitor {
  /** The live state of the download of `path`, or the final state of the last one. */
  stateOf(path: string): DownloadState | undefined;
  readonly onStateChange: Event<DownloadState>;
}

/** Per-call options of {@link ModelDownloader.download}. */
export interface DownloadRequest {
  /** Model the file belongs to, carried in states and events. */
  modelId?: string;
  /** Aborting cancels the download. */
  signal?: AbortSignal;
}

interface Job {
  readonly file: ModelFile;
  readonly modelId?: string;
  phase: DownloadPhase;
  /** Aborted to pause or cancel; replaced on resume. */
  interrupt: AbortController;
  paused: boolean;
  cancelled: boolean;
  resumed?: () => void;
  resumedGate?: Promise<void>;
  /** Bytes in the partial file, all written. */
  bytesWritten: number;
  attempts: number;
  /** Failed attempts in a row, reset by an attempt that wrote `progressResetBytes` or by a new URL. */
  failuresInARow: number;
  rate: TransferRate;
  retryAt?: number;
  error?: DownloadError;
  promise?: Promise<DownloadResult>;
}

/**
 * Downloads catalog files into the models directory: over several ranged connections when the server allows
 * (segments written at their offsets into `<name>.part`, their progress in `<name>.part.segments`), resumable, hashed
 * as the file grows, verified against the catalog sha256, renamed into place atomically. Retries network errors, 429
 * and 5xx with exponential backoff and jitter on the Clock (honouring Retry-After); 404 and 403 move on to the next
 * URL or fail. Limits concurrency, checks free disk first, and supports pause, resume and cancel.
 */
export class ModelDownloader implements DownloadMonitor {
  readonly options: Readonly<ResolvedOptions>;
  private readonly directory: ModelsDirectory;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly freeBytes: FreeSpaceProbe;
  private readonly digestCache: DigestCache;
  private readonly jobs = new Map<string, Job>();
  private readonly finished = new Map<string, DownloadState>();
  /** One slot per file downloaded at once (`maxConcurrent`). */
  private readonly slots: PQueue;
  private readonly stateEmitter = new EventEmitter<DownloadState>();
  private readonly progressEmitter = new EventEmitter<DownloadProgress>();
  private lastMeasured: number | undefined;

  /** Fires on every phase change of every download. */
  readonly onStateChange: Event<DownloadState> = this.stateEmitter.addListener;
  /** Fires every `progressIntervalMs` of Clock time while bytes flow, and when a transfer ends. */
  readonly onProgress: Event<DownloadProgress> = this.progressEmitter.addListener;

  constructor(dependencies: DownloaderDependencies, options: DownloaderOptions = {}) {
    this.options = parseOrThrow(DownloaderOptionsSchema, options, 'downloader options');
    this.directory = dependencies.directory;
    this.clock = dependencies.clock;
    this.random = dependencies.random ?? Math.random;
    this.freeBytes = dependencies.freeBytes ?? statfsFreeBytes;
    this.digestCache = dependencies.digestCache ?? DigestCache.inMemory();
    this.slots = new PQueue({ concurrency: this.options.maxConcurrent });
  }

  /**
   * Total smoothed speed of the transfers under way (bytes per second), or the last one measured when none is;
   * undefined before any measurement. For wait estimates.
   */
  get measuredBytesPerSecond(): number | undefined {
    return this.lastMeasured;
  }

  /**
   * Downloads one file and resolves when it is complete and verified. A second call for a file already being
   * downloaded returns the same promise. Rejects with a {@link DownloadError}.
   */
  download(file: ModelFile, request: DownloadRequest = {}): Promise<DownloadResult> {
    const existing = this.jobs.get(file.path)?.promise;
    if (existing) return existing;
    const job: Job = {
      file,
      ...(request.modelId === undefined ? {} : { modelId: request.modelId }),
      phase: 'queued',
      interrupt: new AbortController(),
      paused: false,
      cancelled: false,
      bytesWritten: 0,
      attempts: 0,
      failuresInARow: 0,
      rate: new TransferRate(this.options.speedSmoothing),
    };
    this.jobs.set(file.path, job);
    this.finished.delete(file.path);
    this.emitState(job);
    const signal = request.signal;
    const onAbort = (): void => void this.cancel(file.path);
    signal?.addEventListener('abort', onAbort, { once: true });
    const promise = this.run(job).finally(() => {
      signal?.removeEventListener('abort', onAbort);
      this.jobs.delete(file.path);
    });
    job.promise = promise;
    if (signal?.aborted) this.cancel(file.path);
    return promise;
  }

  /** Downloads every file of a model; rejects with the first failure once all have settled. */
  async downloadModel(model: ModelDescriptor, signal?: AbortSignal): Promise<DownloadResult[]> {
    const settled = await Promise.allSettled(
      model.files.map((file) => this.download(file, { modelId: model.id, ...(signal ? { signal } : {}) })),
    );
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<DownloadResult>).value);
  }

  /** Pauses the download of `path`, keeping its partial file and freeing its slot. False when nothing to pause. */
  pause(path: string): boolean {
    const job = this.jobs.get(path);
    if (!job || job.paused || job.cancelled || isTerminal(job.phase)) return false;
    job.paused = true;
    job.resumedGate = new Promise((resolve) => (job.resumed = resolve));
    job.interrupt.abort(new DownloadError('cancelled', `Download of ${path} paused`, { path }));
    this.setPhase(job, 'paused');
    return true;
  }

  /** Resumes a paused download from where its partial file ends. False when `path` is not paused. */
  resume(path: string): boolean {
    const job = this.jobs.get(path);
    if (!job?.paused || job.cancelled) return false;
    job.paused = false;
    job.interrupt = new AbortController();
    job.resumed?.();
    this.setPhase(job, 'queued');
    return true;
  }

  /** Cancels the download of `path` and deletes its partial file; its promise rejects with `cancelled`. */
  cancel(path: string): boolean {
    const job = this.jobs.get(path);
    if (!job || job.cancelled || isTerminal(job.phase)) return false;
    job.cancelled = true;
    job.interrupt.abort(new DownloadError('cancelled', `Download of ${path} cancelled`, { path }));
    job.resumed?.();
    return true;
  }

  stateOf(path: string): DownloadState | undefined {
    const job = this.jobs.get(path);
    return job ? this.stateFor(job) : this.finished.get(path);
  }

  /** States of the downloads not yet finished. */
  activeDownloads(): DownloadState[] {
    return [...this.jobs.values()].map((job) => this.stateFor(job));
  }

  private async run(job: Job): Promise<DownloadResult> {
    const path = job.file.path;
    let target: ResolvedModelFile | undefined;
    try {
      target = await this.resolveTarget(job.file);
      if (job.file.sizeBytes > this.options.maxFileBytes) {
        throw new DownloadError(
          'too_large',
          `${path} is ${job.file.sizeBytes} bytes, more than the maximum of ${this.options.maxFileBytes} bytes (maxFileBytes)`,
        );
      }
      let checksumFailures = 0;
      let existingChecked = false;
      for (;;) {
        await this.whilePaused(job);
        // Aborted by pause or cancel: the interrupted round starts over, after waiting out a pause.
        const interrupt = job.interrupt.signal;
        let release: () => void;
        try {
          release = await acquireSlot(this.slots, interrupt);
        } catch (error) {
          if (interrupt.aborted) continue;
          throw error;
        }
        let sha256: string;
        try {
          if (!existingChecked) {
            const reused = await this.verifiedExisting(job, target, interrupt);
            existingChecked = true;
            if (reused) return this.complete(job, reused);
          }
          this.setPhase(job, 'downloading');
          sha256 = await this.fetchToPart(job, target, interrupt);
        } catch (error) {
          if (interrupt.aborted) continue;
          throw error;
        } finally {
          release();
        }
        if (sha256 === job.file.sha256) return this.complete(job, await this.install(job, target, sha256));
        await removePartial(target);
        job.bytesWritten = 0;
        if (++checksumFailures >= 2) {
          throw new DownloadError(
            'checksum_mismatch',
            `${path} failed verification twice: expected sha256 ${job.file.sha256}, got ${sha256}`,
            { expectedSha256: job.file.sha256, actualSha256: sha256 },
          );
        }
      }
    } catch (error) {
      const failure = job.cancelled ? new DownloadError('cancelled', `Download of ${path} cancelled`) : toDownloadError(error);
      if (job.cancelled && target) await removePartial(target);
      const message = failure.retryable ? `${failure.message} (gave up after ${job.attempts} attempts)` : failure.message;
      job.error = failure.with({ path, attempts: job.attempts }, message);
      this.setPhase(job, job.cancelled ? 'cancelled' : 'failed');
      this.finished.set(path, this.stateFor(job));
      throw job.error;
    }
  }

  private async resolveTarget(file: ModelFile): Promise<ResolvedModelFile> {
    try {
      return await this.directory.resolve(file.path);
    } catch (error) {
      if (isModelPathError(error)) throw new DownloadError('unsafe_path', error.message, { cause: error });
      throw error;
    }
  }

  /** The result for a final file already present with the right digest, if there is one. */
  private async verifiedExisting(job: Job, target: ResolvedModelFile, interrupt: AbortSignal): Promise<DownloadResult | undefined> {
    const size = (await ifExists(stat(target.absolutePath)))?.size;
    if (size !== job.file.sizeBytes) return undefined;
    this.setPhase(job, 'verifying');
    const { sha256 } = await this.digestCache.digestOf(target.absolutePath, undefined, interrupt);
    if (sha256 !== job.file.sha256) return undefined;
    job.bytesWritten = size;
    return { path: job.file.path, absolutePath: target.absolutePath, sha256, bytes: size, reused: true };
  }

  private async whilePaused(job: Job): Promise<void> {
    while (job.paused && !job.cancelled) await job.resumedGate;
    if (job.cancelled) throw new DownloadError('cancelled', `Download of ${job.file.path} cancelled`);
  }

  /**
   * Brings the partial file to full size over one or more connections, retrying as configured, while a worker hashes
   * it as it grows (starting with the bytes already there); resolves to the sha256 of the whole file.
   */
  private async fetchToPart(job: Job, target: ResolvedModelFile, interrupt: AbortSignal): Promise<string> {
    await mkdir(dirname(target.absolutePath), { recursive: true });
    const transfer = new FileTransfer({
      file: job.file,
      partPath: target.partPath,
      recordPath: target.partPath + SEGMENTS_SUFFIX,
      options: this.options,
      clock: this.clock,
      random: this.random,
      connections: new HttpConnections({
        ...(this.options.caCertificates === undefined ? {} : { ca: this.options.caCertificates }),
        ...(this.options.proxy === undefined ? {} : { proxy: { proxy: this.options.proxy } }),
      }),
      observer: this.observerFor(job),
      retries: job,
    });
    try {
      await transfer.adopt();
      job.bytesWritten = transfer.bytesDone;
      await this.checkFreeSpace(job, target);
      this.setPhase(job, 'downloading');
      await transfer.run(interrupt);
      this.setPhase(job, 'verifying');
      return await unlessAborted(transfer.digest(), interrupt);
    } finally {
      await transfer.close();
    }
  }

  /** How a transfer's news changes the job: attempts, bytes, phases, speed samples. */
  private observerFor(job: Job): TransferObserver {
    return {
      requestStarted: (first) => {
        job.attempts++;
        if (!first) return;
        job.retryAt = undefined;
        this.setPhase(job, 'downloading');
        job.rate.restart(this.clock.now(), job.bytesWritten);
      },
      requestEnded: () => this.sampleProgress(job),
      written: (bytesDone) => (job.bytesWritten = bytesDone),
      waiting: (failure, retryAt) => {
        job.retryAt = retryAt;
        job.error = failure;
        this.setPhase(job, 'retrying');
      },
      tick: () => this.sampleProgress(job),
    };
  }

  private async checkFreeSpace(job: Job, target: ResolvedModelFile): Promise<void> {
    const needed = job.file.sizeBytes - job.bytesWritten + this.options.freeSpaceReserveBytes;
    const directory = dirname(target.absolutePath);
    const free = await this.freeBytes(directory);
    if (free < needed) {
      throw new DownloadError(
        'disk_full',
        `Not enough disk space for ${job.file.path}: needs ${needed} bytes (${formatGiB(needed)}), ` +
          `${free} bytes (${formatGiB(free)}) free in ${directory}`,
        { bytesNeeded: needed, bytesFree: free },
      );
    }
  }

  private sampleProgress(job: Job): void {
    const at = this.clock.now();
    const bytesPerSecond = job.rate.sample(at, job.bytesWritten);
    this.lastMeasured = this.totalSpeed() ?? this.lastMeasured;
    const etaSeconds = job.rate.etaSeconds(job.file.sizeBytes - job.bytesWritten);
    this.progressEmitter.emit({
      path: job.file.path,
      ...(job.modelId === undefined ? {} : { modelId: job.modelId }),
      bytesDone: job.bytesWritten,
      bytesTotal: job.file.sizeBytes,
      ...(bytesPerSecond === undefined ? {} : { bytesPerSecond }),
      ...(etaSeconds === undefined ? {} : { etaSeconds }),
      at,
    });
  }

  private totalSpeed(): number | undefined {
    let total: number | undefined;
    for (const job of this.jobs.values()) {
      const speed = job.phase === 'downloading' ? job.rate.bytesPerSecond : undefined;
      if (speed !== undefined) total = (total ?? 0) + speed;
    }
    return total;
  }

  /** Renames the verified partial file into place and records its digest. */
  private async install(job: Job, target: ResolvedModelFile, sha256: string): Promise<DownloadResult> {
    await rename(target.partPath, target.absolutePath);
    await removeSegmentRecord(target.partPath + SEGMENTS_SUFFIX);
    if (this.options.fsync) await syncDirectory(dirname(target.absolutePath));
    const info = await stat(target.absolutePath);
    await this.digestCache.record(target.absolutePath, info, sha256);
    return { path: job.file.path, absolutePath: target.absolutePath, sha256, bytes: info.size, reused: false };
  }

  private complete(job: Job, result: DownloadResult): DownloadResult {
    job.bytesWritten = result.bytes;
    this.setPhase(job, 'completed');
    this.finished.set(job.file.path, this.stateFor(job));
    return result;
  }

  /** Moves a job to `phase`; while paused only `paused` itself or an end phase is shown. */
  private setPhase(job: Job, phase: DownloadPhase): void {
    if (job.phase === phase) return;
    if (job.paused && !job.cancelled && phase !== 'paused' && !isTerminal(phase)) return;
    job.phase = phase;
    this.emitState(job);
  }

  private emitState(job: Job): void {
    this.stateEmitter.emit(this.stateFor(job));
  }

  private stateFor(job: Job): DownloadState {
    const bytesPerSecond = job.rate.bytesPerSecond;
    const etaSeconds = job.rate.etaSeconds(job.file.sizeBytes - job.bytesWritten);
    const active = job.phase === 'downloading';
    return {
      path: job.file.path,
      ...(job.modelId === undefined ? {} : { modelId: job.modelId }),
      phase: job.phase,
      bytesDone: job.bytesWritten,
      bytesTotal: job.file.sizeBytes,
      ...(active && bytesPerSecond !== undefined ? { bytesPerSecond } : {}),
      ...(active && etaSeconds !== undefined ? { etaSeconds } : {}),
      attempt: job.attempts,
      ...(job.phase === 'retrying' && job.retryAt !== undefined ? { retryAt: job.retryAt } : {}),
      ...(job.error && (job.phase === 'retrying' || isTerminal(job.phase)) ? { error: job.error } : {}),
      updatedAt: this.clock.now(),
    };
  }
}

/**
 * Waits for a slot of `slots` and resolves to the function that frees it; rejects with the signal's reason when it
 * aborts first. A waiter that gave up leaves a no-op in the queue, which frees its turn at once.
 */
function acquireSlot(slots: PQueue, signal: AbortSignal): Promise<() => void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void slots.add(async () => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) return;
      await new Promise<void>((release) => resolve(release));
    });
  });
}

/** Deletes a partial file and its segment record. */
async function removePartial(target: ResolvedModelFile): Promise<void> {
  await rm(target.partPath, { force: true });
  await removeSegmentRecord(target.partPath + SEGMENTS_SUFFIX);
}

/** Settles like `promise`, or rejects with the signal's reason once it aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function isTerminal(phase: DownloadPhase): boolean {
  return phase === 'completed' || phase === 'failed' || phase === 'cancelled';
}

function toDownloadError(error: unknown): DownloadError {
  return isDownloadError(error) ? error : fileSystemError(error, 'A local file operation');
}

/** Makes a rename durable; some file systems refuse to sync a directory, which is harmless. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}
