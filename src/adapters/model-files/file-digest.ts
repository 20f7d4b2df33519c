import { Worker } from 'node:worker_threads';

/** Computes the lowercase hex sha256 of a file. Injectable so tests can count or fake hashing. */
export type FileHasher = (absolutePath: string, signal?: AbortSignal) => Promise<string>;

/**
 * The worker's code, plain CommonJS so it runs the same from TypeScript sources and from the build. It reads the file
 * itself, 1 MiB at a time (a buffer that stays in the core's cache), up to the offset it is told, and answers only
 * `{ digest }` or `{ error }`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const hash = require('node:crypto').createHash('sha256');
const buffer = Buffer.allocUnsafe(1024 * 1024);
let fd;
let position = 0;
parentPort.on('message', (message) => {
  try {
    if (fd === undefined) fd = openSync(workerData.path, 'r');
    const end = message.to < 0 ? Infinity : message.to;
    while (position < end) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      if (read === 0) {
        if (end === Infinity) break;
        throw Object.assign(new Error('file ends at byte ' + position + ', expected ' + end), { code: 'ESHORT' });
      }
      hash.update(buffer.subarray(0, read));
      position += read;
    }
    if (message.digest) {
      closeSync(fd);
      parentPort.postMessage({ digest: hash.digest('hex') });
      parentPort.close();
    }
  } catch (error) {
    parentPort.postMessage({ error: error.message, code: error.code });
    parentPort.close();
  }
});
`;

type WorkerReply = { digest: string } | { error: string; code?: string };

/** {@link FileHashWorker.hashTo} passes on requests in steps of at least this many bytes, to keep messages few. */
const HASH_STEP_BYTES = 4 * 1024 * 1024;

/**
 * sha256 of a file computed on a worker thread, which reads the file itself: the event loop stays free while
 * gigabytes are hashed, and the digest covers the bytes as they are on disk. The file may grow while hashing goes
 * on: {@link hashTo} asks for more, {@link digest} finishes. The worker ends after `digest`, an error or `terminate`.
 */
export class FileHashWorker {
  private readonly worker: Worker;
  private readonly finished: Promise<string>;
  private requested = 0;
  private ended = false;

  constructor(readonly path: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path }, execArgv: [] });
    this.finished = new Promise((resolve, reject) => {
      this.worker.on('message', (reply: WorkerReply) => {
        if ('digest' in reply) resolve(reply.digest);
        else if ('error' in reply) reject(Object.assign(new Error(`Hashing ${path} failed: ${reply.error}`), { code: reply.code }));
      });
      this.worker.on('error', reject);
      this.worker.on('exit', () => reject(new Error(`Hashing ${path} stopped before its digest`)));
    });
    this.finished.catch(() => undefined).finally(() => (this.ended = true));
  }

  /** Lets the worker hash the file up to byte `offset` (the bytes must already be written); small steps are batched. */
  hashTo(offset: number): void {
    if (this.ended || offset - this.requested < HASH_STEP_BYTES) return;
    this.requested = offset;
    this.worker.postMessage({ to: offset });
  }

  /** Hashes up to `offset` (to the end of the file when omitted) and resolves to the hex digest. */
  async digest(offset = -1): Promise<string> {
    this.worker.postMessage({ to: offset, digest: true });
    return this.finished;
  }

  /** Stops the worker; a pending {@link digest} rejects. */
  async terminate(): Promise<void> {
    if (!this.ended) await this.worker.terminate();
  }
}

/** The default {@link FileHasher}: hashes on a worker thread; aborting terminates the worker. */
export const sha256File: FileHasher = async (absolutePath, signal) => {
  signal?.throwIfAborted();
  const hasher = new FileHashWorker(absolutePath);
  const onAbort = (): void => void hasher.terminate();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await hasher.digest();
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
};
