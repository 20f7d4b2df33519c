// Over 400 lines for one reason: one file's segmented transfer (plan, connections, retries, fallback to fewer connections, the sidecar record) is one state machine.
/**
 * One file's transfer into its `.part`: over several connections when the server takes ranges, each segment written
 * at its offset, retried on its own with backoff, the sidecar record kept up to date; hashed in order on a worker
 * thread as the written prefix grows.
 */
import { constants } from 'node:fs';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import PQueue from 'p-queue';
import type { ModelFile } from '../../core/catalog.js';
import { exponentialBackoffMs } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { sleep } from '../../core/clock.js';
import { BodyTooLongError, PositionalWriter } from './body-writer.js';
import { DownloadError, fileSystemError, isDownloadError, type DownloadErrorCode } from './download-errors.js';
import { FileHashWorker } from './file-digest.js';
import type { HttpConnections } from './http-connections.js';
import { hostAllowed, openRange, type RangeResponse } from './http-range-client.js';
import { ifExists } from './if-exists.js';
import {
  contiguousBytes,
  isComplete,
  planSegments,
  readSegmentRecord,
  removeSegmentRecord,
  writeSegmentRecord,
  type Segment,
} from './segment-record.js';

/** The downloader's options a transfer uses (see `DownloaderOptionsSchema` for each). */
export interface TransferOptions {
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly backoffFactor: number;
  readonly maxBackoffMs: number;
  readonly jitter: number;
  readonly maxRetryAfterMs: number;
  readonly progressResetBytes: number;
  readonly maxFileBytes: number;
  readonly allowedHosts?: readonly string[];
  readonly maxRedirects: number;
  readonly idleTimeoutMs: number;
  readonly progressIntervalMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly fsync: boolean;
  readonly connections: number;
  readonly connectionsPerHost: Readonly<Record<string, number>>;
  readonly minSegmentBytes: number;
}

/** What a transfer tells its download about. */
export interface TransferObserver {
  /** A request is sent; `first` when no other was under way, i.e. bytes start to flow again. */
  requestStarted(first: boolean): void;
  /** A request ended (its body too); `last` when no other is under way. */
  requestEnded(last: boolean): void;
  /** The bytes of the file on disk now total `bytesDone`. */
  written(bytesDone: number): void;
  /** No request is under way and a connection waits out a backoff after `failure`, until `retryAt` (epoch ms). */
  waiting(failure: DownloadError, retryAt: number): void;
  /** Every `progressIntervalMs` of Clock time while requests are under way. */
  tick(): void;
}

/** What a transfer is built on. */
export interface TransferContext {
  readonly file: ModelFile;
  readonly partPath: string;
  readonly recordPath: string;
  readonly options: TransferOptions;
  readonly clock: Clock;
  readonly random: () => number;
  readonly connections: HttpConnections;
  readonly observer: TransferObserver;
  /** Failed attempts in a row, counted across the download's rounds (reset by real progress or a new URL). */
  readonly retries: { failuresInARow: number };
}

/** URL-level failures after which the next URL of the file is tried. */
const NEXT_URL_CODES: ReadonlySet<DownloadErrorCode> = new Set([
  'not_found',
  'forbidden',
  'http_error',
  'host_not_allowed',
  'scheme_not_allowed',
  'too_many_redirects',
  'size_mismatch',
  'rate_limited',
  'server_error',
  'network',
]);

/** A request under way for one segment. */
interface Attempt {
  readonly segment: Segment;
  readonly abort: AbortController;
  lastActivityAt: number;
  /** Resolves when the attempt has ended, its last write done. */
  readonly ended: Promise<void>;
  readonly markEnded: () => void;
}

/** Thrown by an attempt whose segments were replaced by a fresh plan (the file changed on the server). */
class StartedOver extends Error {
  override readonly name = 'StartedOver';
}

/**
 * Brings the `.part` to full size from the file's URLs, then {@link digest} gives its sha256. Open with {@link adopt},
 * end with {@link close}.
 */
export class FileTransfer {
  private segments: Segment[] = [];
  /** Segments replaced by a fresh plan; their attempts stop. */
  private readonly obsolete = new WeakSet<Segment>();
  private etag: string | undefined;
  /** True once a server answered a range with 206 for this URL: the other connections may open. */
  private rangesConfirmed = false;
  private hasher: FileHashWorker | undefined;
  private handle: FileHandle | undefined;
  private readonly active = new Set<Attempt>();
  private readonly backoffs = new Map<Segment, { failure: DownloadError; retryAt: number }>();
  private queue: PQueue | undefined;
  private connectionLimit = 1;
  private ticker: TimerHandle | undefined;
  private recordWrites: Promise<void> = Promise.resolve();
  private recordDirty = false;

  constructor(private readonly context: TransferContext) {}

  /** Bytes of the file on disk. */
  get bytesDone(): number {
    let bytes = 0;
    for (const segment of this.segments) bytes += segment.done;
    return bytes;
  }

  /**
   * Takes up what a previous run left: the sidecar's segments when it describes this file, otherwise the `.part` as a
   * prefix written in order (one too long is deleted); a worker starts hashing what is there. A plan of several
   * segments is recorded before the first byte lands, so a `.part` without a record is always such a prefix.
   */
  async adopt(): Promise<void> {
    const { file, partPath, recordPath, options } = this.context;
    const partBytes = (await ifExists(stat(partPath)))?.size;
    const record = partBytes === undefined ? undefined : await readSegmentRecord(recordPath, file);
    if (record) {
      this.segments = record.segments;
      this.etag = record.etag;
    } else {
      await removeSegmentRecord(recordPath);
      let prefix = partBytes ?? 0;
      if (prefix > file.sizeBytes) {
        await rm(partPath, { force: true });
        prefix = 0;
      }
      this.segments = planSegments(file.sizeBytes, this.connectionsFor(file.urls[0] as string), options.minSegmentBytes);
      for (const segment of this.segments) segment.done = Math.min(Math.max(0, prefix - segment.start), segment.end - segment.start);
      if (this.segments.length > 1) await this.writeRecord();
    }
    this.restartHashing();
  }

  /** Transfers what is missing, moving through the file's URLs as configured; rejects with a {@link DownloadError}. */
  async run(interrupt: AbortSignal): Promise<void> {
    const { file } = this.context;
    this.handle ??= await this.openPart();
    let urlIndex = 0;
    while (this.segments.some((s) => !isComplete(s))) {
      try {
        await this.fetchFrom(file.urls[urlIndex] as string, interrupt);
      } catch (error) {
        if (interrupt.aborted) throw error;
        const failure = toDownloadError(error);
        if (NEXT_URL_CODES.has(failure.code) && urlIndex < file.urls.length - 1) {
          urlIndex++;
          this.context.retries.failuresInARow = 0;
          // Another server: its ETags are its own, and whether it takes ranges is to be seen.
          this.etag = undefined;
          this.rangesConfirmed = false;
          continue;
        }
        throw failure;
      }
    }
    if (this.context.options.fsync) await this.handle.sync().catch((error: unknown) => Promise.reject(fileSystemError(error, `Flushing ${this.context.partPath}`)));
  }

  /** The sha256 of the whole file (hashing what is left of it first). */
  digest(): Promise<string> {
    return (this.hasher as FileHashWorker).digest(this.context.file.sizeBytes);
  }

  /** Stops hashing, ticking and every connection, and closes the file; the sidecar is saved as it stands. */
  async close(): Promise<void> {
    this.stopTicking();
    await this.context.connections.close();
    await this.hasher?.terminate();
    if (this.recordDirty) this.saveRecord();
    await this.recordWrites;
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }

  /** Runs every missing segment from `url`, up to the URL's connection count at once, until all are done. */
  private async fetchFrom(url: string, interrupt: AbortSignal): Promise<void> {
    const round = new AbortController();
    const signal = AbortSignal.any([interrupt, round.signal]);
    while (this.segments.some((s) => !isComplete(s))) {
      this.connectionLimit = this.segments.length === 1 ? 1 : this.connectionsFor(url);
      const queue = new PQueue({ concurrency: this.rangesConfirmed ? this.connectionLimit : 1 });
      this.queue = queue;
      const pending = this.segments.filter((s) => !isComplete(s));
      const settled = await Promise.allSettled(pending.map((segment) => this.fetchSegment(segment, url, signal, round, queue)));
      if (interrupt.aborted) throw interrupt.reason as Error;
      if (round.signal.aborted) throw round.signal.reason as Error;
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /**
   * Fetches one segment, each attempt in a slot of `queue` (one connection), retrying with backoff outside it; a
   * failure that is final ends the round for every segment.
   */
  private async fetchSegment(segment: Segment, url: string, signal: AbortSignal, round: AbortController, queue: PQueue): Promise<void> {
    const { options, retries } = this.context;
    while (!isComplete(segment) && !this.obsolete.has(segment)) {
      signal.throwIfAborted();
      const before = this.bytesDone;
      try {
        await queue.add(async () => {
          signal.throwIfAborted();
          // While it waited for a connection, the file may have started over (this segment is then obsolete).
          if (!this.obsolete.has(segment)) await this.attempt(segment, url, signal);
        });
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof StartedOver) return;
        const failure = toDownloadError(error);
        if (this.bytesDone - before >= options.progressResetBytes) retries.failuresInARow = 0;
        if (!failure.retryable || ++retries.failuresInARow > options.maxRetries) {
          round.abort(failure);
          throw failure;
        }
        // A connection that failed is not opened again for this URL: fewer at once, down to one. The backoff waits
        // outside the queue, so the segments still running keep the connections that are left.
        if (queue.concurrency > 1) queue.concurrency--;
        await this.backOff(segment, failure, signal);
      }
    }
  }

  private async backOff(segment: Segment, failure: DownloadError, signal: AbortSignal): Promise<void> {
    const { options, clock, random } = this.context;
    const retry = this.context.retries.failuresInARow;
    const backoff = { initialMs: options.initialBackoffMs, multiplier: options.backoffFactor, maxMs: options.maxBackoffMs, jitterRatio: options.jitter };
    const spread = exponentialBackoffMs(backoff, retry, random);
    const asked = failure.retryAfterMs === undefined ? 0 : Math.min(failure.retryAfterMs, options.maxRetryAfterMs);
    const delay = Math.max(spread, asked);
    this.backoffs.set(segment, { failure, retryAt: clock.now() + delay });
    this.reportWaiting();
    try {
      await sleep(clock, delay, signal);
    } finally {
      this.backoffs.delete(segment);
    }
  }

  /** One request for the rest of `segment`, its body written at the segment's offset. */
  private async attempt(segment: Segment, url: string, signal: AbortSignal): Promise<void> {
    const { file, options, clock, observer } = this.context;
    let markEnded = (): void => undefined;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    const attempt: Attempt = { segment, abort: new AbortController(), lastActivityAt: clock.now(), ended, markEnded };
    const attemptSignal = AbortSignal.any([signal, attempt.abort.signal]);
    this.begin(attempt);
    let facts: { url: string; httpStatus?: number } = { url };
    try {
      const single = this.segments.length === 1;
      const from = segment.start + segment.done;
      const response = await openRange(url, this.context.connections, {
        start: from,
        ...(single ? {} : { end: segment.end - 1 }),
        ...(this.etag !== undefined && !this.etag.startsWith('W/') ? { ifRange: this.etag } : {}),
        signal: attemptSignal,
        maxRedirects: options.maxRedirects,
        headers: options.headers,
        now: clock.now(),
        ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
      });
      facts = { url: response.url, httpStatus: response.status };
      const target = await this.accept(response, segment, from);
      attempt.lastActivityAt = clock.now();
      const position = target.start + target.done;
      const writer = new PositionalWriter({ fd: (this.handle as FileHandle).fd, path: this.context.partPath, position, maxBytes: target.end - position }, (bytes) => {
        target.done += bytes;
        attempt.lastActivityAt = clock.now();
        this.recordDirty = true;
        this.hasher?.hashTo(contiguousBytes(this.segments));
        observer.written(this.bytesDone);
      });
      await response.body.pipeTo(writer);
      if (!isComplete(target)) {
        const [done, total] = single ? [this.bytesDone, file.sizeBytes] : [target.done, target.end - target.start];
        throw new DownloadError('network', `${response.url} closed the connection after ${done} of ${total} bytes`, facts);
      }
      if (!single) this.saveRecord();
    } catch (error) {
      if (attempt.abort.signal.aborted && !signal.aborted) throw attempt.abort.signal.reason as Error;
      throw bodyFailure(error, facts, signal);
    } finally {
      this.end(attempt);
    }
  }

  /**
   * Checks a response against the file and the plan, and says which segment its body fills: a 200 means the server
   * ignored the range, so the whole file starts over on this one connection; a 206 with another ETag than the bytes
   * written so far means the file changed, so everything starts over (on one connection).
   */
  private async accept(response: RangeResponse, segment: Segment, from: number): Promise<Segment> {
    const { file, options } = this.context;
    const facts = { url: response.url, httpStatus: response.status };
    if (this.obsolete.has(segment)) {
      await response.body.dump();
      throw new StartedOver('the file started over while this request was sent');
    }
    if (response.totalSize !== undefined && response.totalSize !== file.sizeBytes) {
      await response.body.dump();
      throw new DownloadError(
        response.totalSize > options.maxFileBytes ? 'too_large' : 'size_mismatch',
        `${response.url} serves ${response.totalSize} bytes; the catalog declares ${file.sizeBytes} for ${file.path}`,
        facts,
      );
    }
    if (response.status === 200) {
      if (this.segments.length > 1 || segment.done > 0) await this.startOver(response.etag, segment);
      else this.etag = response.etag;
      return this.segments[0] as Segment;
    }
    if (response.start !== from) {
      await response.body.dump();
      throw new DownloadError('http_error', `${response.url} sent bytes from ${response.start}; asked from ${from}`, facts);
    }
    if (this.etag !== undefined && response.etag !== undefined && response.etag !== this.etag) {
      await response.body.dump();
      await this.startOver(undefined, segment);
      throw new StartedOver(`${response.url} changed its ETag from ${this.etag} to ${response.etag}`);
    }
    this.etag ??= response.etag;
    if (!this.rangesConfirmed) {
      this.rangesConfirmed = true;
      if (this.queue) this.queue.concurrency = this.connectionLimit;
    }
    return segment;
  }

  /**
   * Drops every byte written: one segment for the whole file, no record, hashing from zero. The other requests under
   * way (all but the one for `current`) stop first, so that no write of theirs lands after the truncation.
   */
  private async startOver(etag: string | undefined, current: Segment): Promise<void> {
    for (const segment of this.segments) this.obsolete.add(segment);
    const others = [...this.active].filter((attempt) => attempt.segment !== current);
    for (const attempt of others) attempt.abort.abort(new StartedOver('the file starts over'));
    await Promise.all(others.map((attempt) => attempt.ended));
    this.segments = [{ start: 0, end: this.context.file.sizeBytes, done: 0 }];
    this.etag = etag;
    this.rangesConfirmed = false;
    this.recordDirty = false;
    await this.recordWrites;
    await removeSegmentRecord(this.context.recordPath);
    await (this.handle as FileHandle).truncate(0).catch((error: unknown) => Promise.reject(fileSystemError(error, `Truncating ${this.context.partPath}`)));
    this.restartHashing();
    this.context.observer.written(0);
  }

  private restartHashing(): void {
    void this.hasher?.terminate();
    this.hasher = new FileHashWorker(this.context.partPath);
    const prefix = contiguousBytes(this.segments);
    if (prefix > 0) this.hasher.hashTo(prefix);
  }

  private begin(attempt: Attempt): void {
    const first = this.active.size === 0;
    this.active.add(attempt);
    this.context.observer.requestStarted(first);
    if (first) this.ticker = this.context.clock.setTimeout(this.tick, this.context.options.progressIntervalMs);
  }

  private end(attempt: Attempt): void {
    this.active.delete(attempt);
    attempt.markEnded();
    const last = this.active.size === 0;
    if (last) this.stopTicking();
    this.context.observer.requestEnded(last);
    if (last) this.reportWaiting();
  }

  /** Every progress interval: abandons requests silent for `idleTimeoutMs`, saves the record, reports progress. */
  private readonly tick = (): void => {
    const { clock, options, file } = this.context;
    for (const attempt of this.active) {
      const silentMs = clock.now() - attempt.lastActivityAt;
      if (silentMs >= options.idleTimeoutMs) {
        attempt.abort.abort(new DownloadError('network', `No data for ${Math.round(silentMs / 1000)} s while fetching ${file.path}`));
      }
    }
    if (this.recordDirty) this.saveRecord();
    this.context.observer.tick();
    if (this.active.size > 0) this.ticker = clock.setTimeout(this.tick, options.progressIntervalMs);
  };

  private stopTicking(): void {
    if (this.ticker) this.context.clock.clearTimeout(this.ticker);
    this.ticker = undefined;
  }

  /** With nothing under way, tells the observer about the earliest backoff there is. */
  private reportWaiting(): void {
    if (this.active.size > 0) return;
    let next: { failure: DownloadError; retryAt: number } | undefined;
    for (const backoff of this.backoffs.values()) if (!next || backoff.retryAt < next.retryAt) next = backoff;
    if (next) this.context.observer.waiting(next.failure, next.retryAt);
  }

  /** Queues a write of the record (after flushing the data it vouches for, with `fsync`). */
  private saveRecord(): void {
    if (this.segments.length < 2) return;
    this.recordDirty = false;
    this.recordWrites = this.recordWrites.then(() => this.writeRecord()).catch(() => undefined);
  }

  private async writeRecord(): Promise<void> {
    const segments = this.segments.map((s) => ({ ...s }));
    if (segments.length < 2) return;
    if (this.context.options.fsync) await this.handle?.datasync();
    await writeSegmentRecord(this.context.recordPath, this.context.file, { segments, ...(this.etag === undefined ? {} : { etag: this.etag }) });
  }

  private async openPart(): Promise<FileHandle> {
    try {
      return await open(this.context.partPath, constants.O_RDWR | constants.O_CREAT);
    } catch (error) {
      throw fileSystemError(error, `Opening ${this.context.partPath}`);
    }
  }

  /** Connections for `url`: the first `connectionsPerHost` entry matching its host, else `connections`. */
  private connectionsFor(url: string): number {
    const { connections, connectionsPerHost } = this.context.options;
    let host: string;
    try {
      host = new URL(url).hostname.toLowerCase();
    } catch {
      return connections;
    }
    for (const [pattern, count] of Object.entries(connectionsPerHost)) if (hostAllowed(host, [pattern])) return count;
    return connections;
  }
}

/** A failure while receiving a body, as a {@link DownloadError} naming the URL and status. */
function bodyFailure(error: unknown, facts: { url: string; httpStatus?: number }, signal: AbortSignal): unknown {
  if (signal.aborted || isDownloadError(error) || error instanceof StartedOver) return error;
  if (error instanceof BodyTooLongError) return new DownloadError('size_mismatch', error.message, facts);
  const message = error instanceof Error ? error.message : String(error);
  return new DownloadError('network', `Reading ${facts.url} failed: ${message}`, { ...facts, cause: error });
}

function toDownloadError(error: unknown): DownloadError {
  return isDownloadError(error) ? error : fileSystemError(error, 'A local file operation');
}
