import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Esbuild from 'esbuild';
import type { HashReply, HashRequest } from './hash-worker.js';

/** Computes the lowercase hex sha256 of a file. Injectable so tests can count or fake hashing. */
export type FileHasher = (absolutePath: string, signal?: AbortSignal) => Promise<string>;

let compiledFromSources: URL | undefined;

/**
 * The hash worker thread's module: `hash-worker.js` in the build; from sources (under tsx), `hash-worker.ts` compiled
 * once per process by esbuild (the compiler tsx itself runs) and loaded from a data: URL. Node 20 does not hand tsx's
 * module hooks to a worker thread, and booting tsx in each worker instead cost 0.2 to 0.3 CPU s per worker.
 */
function hashWorkerModule(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./hash-worker.js', import.meta.url);
  if (!compiledFromSources) {
    const source = new URL('./hash-worker.ts', import.meta.url);
    const esbuild = createRequire(import.meta.url)('esbuild') as typeof Esbuild;
    const { code } = esbuild.transformSync(readFileSync(source, 'utf8'), { loader: 'ts', format: 'esm', sourcefile: source.pathname });
    compiledFromSources = new URL(`data:text/javascript,${encodeURIComponent(code)}`);
  }
  return compiledFromSources;
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
    this.worker = new Worker(hashWorkerModule(), { workerData: { path }, execArgv: [] });
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
