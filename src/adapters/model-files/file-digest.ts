import { Worker } from 'node:worker_threads';
import type { HashReply, HashRequest } from './hash-worker.js';

/** Computes the lowercase hex sha256 of a file. Injectable so tests can count or fake hashing. */
export type FileHasher = (absolutePath: string, signal?: AbortSignal) => Promise<string>;

/**
 * Starts the hash worker thread on `hash-worker.js` (the build) or `hash-worker.ts` (sources, under tsx). Node 20 does
 * not hand tsx's module hooks to a worker thread, so from sources a one-line bootstrap registers tsx's ESM loader in
 * the worker before it imports the module; the build runs the compiled file directly.
 */
function startHashWorker(path: string): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const module = new URL(fromSources ? './hash-worker.ts' : './hash-worker.js', import.meta.url);
  if (!fromSources) return new Worker(module, { workerData: { path }, execArgv: [] });
  const loader = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${loader}).then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: { path }, execArgv: [] });
}


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
    this.worker = startHashWorker(path);
    this.finished = new Promise((resolve, reject) => {
      this.worker.on('message', (reply: HashReply) => {
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
    this.worker.postMessage({ to: offset } satisfies HashRequest);
  }

  /** Hashes up to `offset` (to the end of the file when omitted) and resolves to the hex digest. */
  async digest(offset = -1): Promise<string> {
    this.worker.postMessage({ to: offset, digest: true } satisfies HashRequest);
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
