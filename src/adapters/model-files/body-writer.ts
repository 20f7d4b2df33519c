/** Writes a response body into the partial file at its offset, as it arrives. */
import { write } from 'node:fs';
import { fileSystemError } from './download-errors.js';
import type { BodyFlow, BodySink } from './response-handler.js';

/**
 * Size of each of the writer's two buffers, so the largest single write. Writes of 1 MiB and more get large
 * page-cache folios, which on a virtual machine that hands freed memory back to its host are slow to hand out
 * (measured with dd: 1 GiB in 1 MiB writes took 0.2 to 1.1 CPU s, in 256 KiB writes a steady 0.2).
 */
const WRITE_BYTES = 256 * 1024;

/** Where a {@link PositionalWriter} writes. */
export interface BodyTarget {
  /** Descriptor of the partial file, open for writing. */
  readonly fd: number;
  /** Its path, named in errors. */
  readonly path: string;
  /** Byte of the file the body's first byte goes to. */
  readonly position: number;
  /** Most bytes accepted. */
  readonly maxBytes: number;
}

/** The body held more than {@link BodyTarget.maxBytes}; the chunk that went past it was not written. */
export class BodyTooLongError extends Error {
  override readonly name = 'BodyTooLongError';
}

/**
 * A {@link BodySink} writing a body at `target.position` with positional writes. Chunks are copied into two buffers
 * used in turn: one fills while the other is written, and the body pauses while both are busy. A full buffer is
 * written at once, a partial one when no chunk came for a turn of the event loop, so a fast body goes to disk in few
 * large writes and a slow one as it comes. `onWritten` gets the bytes of each write once they are on the file, so
 * the count reported is always what the file holds. When the body breaks off, every byte received is written before
 * the failure is reported. Write failures become `disk_full` or `io_error` {@link DownloadError}s; a body longer
 * than `maxBytes` a {@link BodyTooLongError}.
 */
export class PositionalWriter implements BodySink {
  private readonly buffers = [Buffer.allocUnsafeSlow(WRITE_BYTES), Buffer.allocUnsafeSlow(WRITE_BYTES)] as const;
  /** Index of the buffer being filled, and its bytes. */
  private active = 0;
  private filled = 0;
  /** Copies of chunks that came while both buffers were busy (the body is paused until they are taken). */
  private readonly backlog: Buffer[] = [];
  private flow: BodyFlow | undefined;
  private writing = false;
  private paused = false;
  private received = 0;
  private written = 0;
  /** Bumped by every chunk, so that an idle flush sees whether the body moved since it was scheduled. */
  private chunks = 0;
  private idleFlush: NodeJS.Immediate | undefined;
  /** Our own reason to stop: a failed write or a body too long. No byte is written after it. */
  private failure: Error | undefined;
  /** Resolves the wait of {@link end} or {@link fail} once everything taken is written (or a write failed). */
  private drained: (() => void) | undefined;
  private draining = false;

  constructor(
    private readonly target: BodyTarget,
    private readonly onWritten: (bytes: number) => void,
  ) {}

  start(flow: BodyFlow): void {
    this.flow = flow;
  }

  write(chunk: Buffer): void {
    if (this.failure) return;
    if (this.received + chunk.length > this.target.maxBytes) {
      this.stop(new BodyTooLongError(`The server sent more than the ${this.target.maxBytes} bytes expected for ${this.target.path}`));
      return;
    }
    this.received += chunk.length;
    this.chunks++;
    const taken = this.backlog.length > 0 ? 0 : this.take(chunk);
    if (taken < chunk.length) {
      this.backlog.push(Buffer.from(chunk.subarray(taken)));
      if (!this.paused) {
        this.paused = true;
        this.flow?.pause();
      }
    }
    this.scheduleIdleFlush();
  }

  /** Writes what is left, then resolves; rejects with the write's failure. */
  end(): Promise<void> {
    return this.drain();
  }

  /** Writes every byte received (unless a write failed), then resolves. */
  async fail(): Promise<void> {
    await this.drain().catch(() => undefined);
  }

  /** Copies from `chunk` into the buffers, starting writes as they fill; returns the bytes taken (fewer when both are busy). */
  private take(chunk: Buffer): number {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.filled === WRITE_BYTES) {
        if (this.writing) return offset;
        this.startWrite();
      }
      const copied = chunk.copy(this.buffers[this.active] as Buffer, this.filled, offset);
      this.filled += copied;
      offset += copied;
    }
    if (this.filled === WRITE_BYTES && !this.writing) this.startWrite();
    return offset;
  }

  /** Writes the active buffer and makes the other one active. */
  private startWrite(): void {
    const buffer = this.buffers[this.active] as Buffer;
    const bytes = this.filled;
    this.active ^= 1;
    this.filled = 0;
    this.writing = true;
    this.writeAt(buffer, 0, bytes, bytes);
  }

  private writeAt(buffer: Buffer, offset: number, length: number, bytes: number): void {
    const position = this.target.position + this.written + (bytes - length);
    write(this.target.fd, buffer, offset, length, position, (error, done) => {
      if (error) {
        this.writing = false;
        this.stop(fileSystemError(error, `Writing ${this.target.path}`));
        return;
      }
      // A short write is rare (a signal, a file size limit): the rest goes in another.
      if (done < length) {
        this.writeAt(buffer, offset + done, length - done, bytes);
        return;
      }
      this.writing = false;
      this.written += bytes;
      this.onWritten(bytes);
      this.afterWrite();
    });
  }

  /** Moves on after a write: takes the backlog, writes a full buffer, resumes the body, or settles a drain. */
  private afterWrite(): void {
    if (this.failure) return this.settleDrain();
    while (this.backlog.length > 0) {
      const head = this.backlog[0] as Buffer;
      const taken = this.take(head);
      if (taken < head.length) {
        this.backlog[0] = head.subarray(taken);
        break;
      }
      this.backlog.shift();
    }
    if (this.filled === WRITE_BYTES && !this.writing) this.startWrite();
    if (this.backlog.length === 0 && this.paused) {
      this.paused = false;
      this.flow?.resume();
    }
    if (this.draining && !this.writing) {
      if (this.filled > 0) this.startWrite();
      else this.settleDrain();
    } else if (this.filled > 0) this.scheduleIdleFlush();
  }

  /** After a turn of the event loop without a new chunk, writes a partial buffer (when no write is under way). */
  private scheduleIdleFlush(): void {
    if (this.idleFlush || this.draining) return;
    const seen = this.chunks;
    this.idleFlush = setImmediate(() => {
      this.idleFlush = undefined;
      if (this.failure || this.draining) return;
      if (this.chunks !== seen) this.scheduleIdleFlush();
      else if (!this.writing && this.filled > 0 && this.backlog.length === 0) this.startWrite();
    });
  }

  /** Writes everything taken so far; resolves when it is on the file, rejects with our own failure. */
  private drain(): Promise<void> {
    if (this.idleFlush) clearImmediate(this.idleFlush);
    this.idleFlush = undefined;
    this.draining = true;
    const done = new Promise<void>((resolve) => (this.drained = resolve));
    if (!this.writing) this.afterWrite();
    return done.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  private settleDrain(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }

  /** Stops for good with `failure`: no more writes, the request is aborted. */
  private stop(failure: Error): void {
    this.failure ??= failure;
    this.backlog.length = 0;
    this.flow?.abort(failure);
    this.settleDrain();
  }
}
