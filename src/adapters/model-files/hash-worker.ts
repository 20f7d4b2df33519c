/**
 * The body of {@link FileHashWorker}'s thread: reads the file named in `workerData.path` itself, 1 MiB at a time (a
 * buffer that stays in the core's cache), up to the offset each message names, and answers only `{ digest }` once
 * asked for it, or `{ error, code }`.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/** What the thread is told: hash up to byte `to` (to the end of the file when negative), then answer when `digest`. */
export interface HashRequest {
  readonly to: number;
  readonly digest?: boolean;
}

/** What the thread answers. */
export type HashReply = { digest: string } | { error: string; code?: string };

const port = parentPort;
if (!port) throw new Error('hash-worker.ts runs on a worker thread (see FileHashWorker)');
const { path } = workerData as { path: string };
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(1024 * 1024);
let fd: number | undefined;
let position = 0;

port.on('message', (message: HashRequest) => {
  try {
    fd ??= openSync(path, 'r');
    const end = message.to < 0 ? Infinity : message.to;
    while (position < end) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      if (read === 0) {
        if (end === Infinity) break;
        throw Object.assign(new Error(`file ends at byte ${position}, expected ${end}`), { code: 'ESHORT' });
      }
      hash.update(buffer.subarray(0, read));
      position += read;
    }
    if (message.digest) {
      closeSync(fd);
      port.postMessage({ digest: hash.digest('hex') } satisfies HashReply);
      port.close();
    }
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    port.postMessage({ error: failure.message, ...(failure.code === undefined ? {} : { code: failure.code }) } satisfies HashReply);
    port.close();
  }
});
