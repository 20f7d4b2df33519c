import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { DownloadError } from './download-errors.js';

/** Bytes buffered before the socket is paused; large enough to keep the next write ready while one is in flight. */
const BUFFER_BYTES = 8 * 1024 * 1024;

/** With `fsync`, written data is flushed in the background every this many bytes, so the final flush is short. */
const FLUSH_STEP_BYTES = 64 * 1024 * 1024;

/** How a {@link PartFileWriter} opens its file and what it reports. */
export interface PartFileWriterOptions {
  /** `w` starts the file over, `a` appends to it. */
  flags: 'w' | 'a';
  /** Most bytes this writer accepts; more fails with `size_mismatch`. */
  maxBytes: number;
  /** Called after each write reaches the file, with the bytes it wrote. */
  onWritten: (bytes: number) => void;
  /** Flush to stable storage as the file grows (in the background) and before finishing. */
  fsync: boolean;
}

/**
 * Appends a stream to a partial download, batching buffered chunks into one `writev`. Bytes are reported only once
 * their write completed, so when {@link fileClosed} resolves the file holds exactly the bytes reported.
 */
export class PartFileWriter extends Writable {
  /** Resolves once the file is closed, whether the stream finished or failed. */
  readonly fileClosed: Promise<void>;
  private handle: FileHandle | undefined;
  private pending: Promise<unknown> = Promise.resolve();
  private written = 0;
  private flushing: Promise<void> | undefined;
  private flushedUpTo = 0;
  private flushError: DownloadError | undefined;
  private markClosed!: () => void;

  constructor(
    private readonly path: string,
    private readonly options: PartFileWriterOptions,
  ) {
    super({ highWaterMark: BUFFER_BYTES });
    this.fileClosed = new Promise((resolve) => (this.markClosed = resolve));
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.path, this.options.flags).then(
      (handle) => {
        this.handle = handle;
        callback();
      },
      (error: unknown) => callback(toFileError(error, this.path)),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeBuffers([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.writeBuffers(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    if (!this.options.fsync || !handle) {
      callback();
      return;
    }
    Promise.resolve(this.flushing)
      .then(() => {
        if (this.flushError) throw this.flushError;
        return handle.sync();
      })
      .then(
        () => callback(),
        (error: unknown) => callback(error instanceof DownloadError ? error : toFileError(error, this.path)),
      );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    Promise.all([this.pending.catch(() => undefined), this.flushing])
      .then(() => this.handle?.close())
      .then(
        () => callback(error),
        (closeError: unknown) => callback(error ?? toFileError(closeError, this.path)),
      )
      .finally(() => this.markClosed());
  }

  private writeBuffers(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    if (!handle) {
      callback(new DownloadError('io_error', `${this.path} is not open`));
      return;
    }
    if (this.flushError) {
      callback(this.flushError);
      return;
    }
    const bytes = buffers.reduce((sum, b) => sum + b.length, 0);
    if (this.written + bytes > this.options.maxBytes) {
      callback(
        new DownloadError('size_mismatch', `The server sent more than the ${this.options.maxBytes} bytes expected for ${this.path}`),
      );
      return;
    }
    const write = writeAll(handle, buffers, bytes);
    this.pending = write;
    write.then(
      () => {
        this.written += bytes;
        this.options.onWritten(bytes);
        this.flushInBackground(handle);
        callback();
      },
      (error: unknown) => callback(toFileError(error, this.path)),
    );
  }

  /** Starts a `fdatasync` once `FLUSH_STEP_BYTES` more are written, at most one at a time; a failure fails the writer. */
  private flushInBackground(handle: FileHandle): void {
    if (!this.options.fsync || this.flushing || this.written - this.flushedUpTo < FLUSH_STEP_BYTES) return;
    this.flushedUpTo = this.written;
    this.flushing = handle
      .datasync()
      .catch((error: unknown) => void (this.flushError = toFileError(error, this.path)))
      .finally(() => (this.flushing = undefined));
  }
}

/** Writes every byte of `buffers`, continuing after short writes. */
async function writeAll(handle: FileHandle, buffers: Buffer[], total: number): Promise<void> {
  let done = (await handle.writev(buffers)).bytesWritten;
  while (done < total) {
    const rest = Buffer.concat(buffers).subarray(done);
    done += (await handle.write(rest)).bytesWritten;
  }
}

function toFileError(error: unknown, path: string): DownloadError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DownloadError('disk_full', `The disk filled while writing ${path}`, { cause: error });
  }
  return new DownloadError('io_error', `Writing ${path} failed: ${(error as Error).message}`, { cause: error });
}
