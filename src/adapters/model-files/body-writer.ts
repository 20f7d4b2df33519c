/** Writes a response body into the partial file at its offset, as it arrives. */
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileSystemError } from './download-errors.js';

/**
 * Largest single write. Whatever the body holds when a write finishes goes out in one `writev` of at most this many
 * bytes, so a slow body is written chunk by chunk as it comes and a fast one in few system calls. Writes of 1 MiB and
 * more get large page-cache folios, which on a virtual machine that hands freed memory back to its host are slow to
 * hand out (measured with dd: 1 GiB in 1 MiB writes took 0.2 to 1.1 CPU s, in 256 KiB writes a steady 0.2).
 */
const WRITE_BYTES = 256 * 1024;

/** Where {@link writeBody} writes. */
export interface BodyTarget {
  /** The partial file, open for writing. */
  readonly handle: FileHandle;
  /** Its path, named in errors. */
  readonly path: string;
  /** Byte of the file the body's first byte goes to. */
  readonly position: number;
  /** Most bytes accepted. */
  readonly maxBytes: number;
}

/** The body held more than {@link BodyTarget.maxBytes}; the batch that went past it was not written. */
export class BodyTooLongError extends Error {
  override readonly name = 'BodyTooLongError';
}

/**
 * Writes `body` at `target.position` with positional writes, calling `onWritten` with the bytes of each write once it
 * is on the file, so that the count reported is always what the file holds. Resolves with the bytes written when the
 * body ends; rejects with the body's error (connection lost, aborted), a `disk_full` or `io_error`
 * {@link DownloadError} for the file, or a {@link BodyTooLongError} past `maxBytes`.
 */
export async function writeBody(body: Readable, target: BodyTarget, onWritten: (bytes: number) => void): Promise<number> {
  let written = 0;
  for (;;) {
    const chunks: Buffer[] = [];
    let size = 0;
    for (let chunk: Buffer | null; size < WRITE_BYTES && (chunk = body.read() as Buffer | null) !== null; ) {
      chunks.push(chunk);
      size += chunk.length;
    }
    if (chunks.length === 0) {
      if (body.readableEnded) return written;
      await readableOrEnded(body);
      continue;
    }
    if (written + size > target.maxBytes) {
      body.destroy();
      throw new BodyTooLongError(`The server sent more than the ${target.maxBytes} bytes expected for ${target.path}`);
    }
    await writeAll(target, chunks, target.position + written, size);
    written += size;
    onWritten(size);
  }
}

async function writeAll(target: BodyTarget, chunks: Buffer[], position: number, bytes: number): Promise<void> {
  try {
    let done = (await target.handle.writev(chunks, position)).bytesWritten;
    // A short writev is rare (a signal, a file size limit): the rest goes in plain writes.
    if (done < bytes) {
      const rest = Buffer.concat(chunks).subarray(done);
      for (let offset = 0; offset < rest.length; ) {
        const step = (await target.handle.write(rest, offset, rest.length - offset, position + done)).bytesWritten;
        offset += step;
        done += step;
      }
    }
  } catch (error) {
    throw fileSystemError(error, `Writing ${target.path}`);
  }
}

/** Resolves once `body` has data or has ended; rejects with its error. */
function readableOrEnded(body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error): void => {
      body.off('readable', onReady);
      body.off('end', onReady);
      body.off('close', onClose);
      body.off('error', settle);
      if (error) reject(error);
      else resolve();
    };
    const onReady = (): void => settle();
    const onClose = (): void => settle(body.errored ?? (body.readableEnded ? undefined : new Error('the body closed before it ended')));
    body.on('readable', onReady);
    body.on('end', onReady);
    body.on('close', onClose);
    body.on('error', settle);
    if (body.errored) settle(body.errored);
    else if (body.destroyed) onClose();
  });
}
