import type { IncomingHttpHeaders } from 'node:http';
import { Worker } from 'node:worker_threads';
import { DownloadError, fileSystemError } from './download-errors.js';

/**
 * Received chunks are collected into a batch of this size, written with one `writev` once full (no copy), so a fast
 * transfer makes few write calls. Not larger: writes of 2 MiB and more get 2 MiB page-cache folios, which on a virtual machine that hands
 * freed memory back to its host often come from memory the host must fault in again (measured with dd, 1 GiB: 2 and
 * 4 MiB writes 0.2 to 1.8 CPU s, 512 KiB and 1 MiB writes a steady 0.2).
 */
const BATCH_BYTES = 1024 * 1024;

/** With `fsync`, written data is flushed in the background every this many bytes, so the final flush is short. */
const SYNC_STEP_BYTES = 64 * 1024 * 1024;

/**
 * The worker's code, plain CommonJS (like the hash worker's) so it runs the same from TypeScript sources and from
 * the build, in a heap of its own that holds little besides the bytes in flight: the chunks of a fast transfer then
 * cost a few cheap minor collections instead of full collections of the engine's heap, and the engine's event loop
 * never sees them. It sends one GET at a time and, when told to, appends the body to a file with synchronous writes
 * (its event loop has nothing else to do), batching as follows:
 *
 * - a batch is written as soon as it is full;
 * - while the transfer is slow (less than a batch received between two ticks) whatever arrived is written at the end
 *   of each event-loop turn, so a slow server's bytes reach the disk at once;
 * - on every tick (the downloader's progress interval on its Clock) whatever is pending is written, so a fast
 *   transfer's progress lags by less than one interval;
 * - when the body ends, fails or the downloader stops the transfer, what was received is written before the file is
 *   closed, so an interrupted transfer keeps every byte it received.
 *
 * After each write it reports the bytes written so far; `end` carries the final count and why it ended.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const BATCH_BYTES = ${BATCH_BYTES};
const SYNC_STEP_BYTES = ${SYNC_STEP_BYTES};
let request;
let response;
let file;

parentPort.on('message', (message) => {
  if (message.type === 'get') get(message.url, message.headers);
  else if (message.type === 'discard') discard();
  else if (message.type === 'save') save(message);
  else if (message.type === 'tick') tick();
  else if (message.type === 'stop' && file) finish();
});

function get(url, headers) {
  discard();
  const client = require(url.startsWith('https:') ? 'node:https' : 'node:http');
  const current = client.request(url, { method: 'GET', headers });
  request = current;
  current.on('response', (res) => {
    response = res;
    parentPort.postMessage({ type: 'head', status: res.statusCode, headers: res.headers });
  });
  current.on('error', (error) => {
    if (file) finish({ kind: 'body', message: error.message });
    else if (request === current && !response) parentPort.postMessage({ type: 'requestError', message: error.message });
  });
  current.end();
}

function discard() {
  if (request) request.destroy();
  request = undefined;
  response = undefined;
}

function save(target) {
  let fd;
  try {
    fd = fs.openSync(target.path, target.flags);
  } catch (error) {
    parentPort.postMessage({ type: 'end', bytes: 0, failure: fileFailure(error) });
    return;
  }
  file = {
    fd, maxBytes: target.maxBytes, fsync: target.fsync, chunks: [], pending: 0,
    received: 0, receivedAtTick: 0, written: 0, syncedUpTo: 0, syncing: false, eager: true, turnPending: false,
    finished: false, failure: undefined,
  };
  response.on('data', receive);
  response.on('end', () => finish());
  response.on('error', (error) => finish({ kind: 'body', message: error.message }));
}

function receive(chunk) {
  if (file.received + chunk.length > file.maxBytes) return finish({ kind: 'size' });
  file.received += chunk.length;
  file.chunks.push(chunk);
  file.pending += chunk.length;
  if (file.pending >= BATCH_BYTES) {
    try {
      writeBatch();
    } catch (error) {
      return finish(fileFailure(error));
    }
  }
  if (file.eager && !file.turnPending) {
    file.turnPending = true;
    setImmediate(endOfTurn);
  }
}

function endOfTurn() {
  file.turnPending = false;
  if (!file.finished) writeOrFinish();
}

function tick() {
  if (!file || file.finished) return;
  writeOrFinish();
  file.eager = file.received - file.receivedAtTick < BATCH_BYTES;
  file.receivedAtTick = file.received;
}

function writeOrFinish() {
  try {
    writeBatch();
  } catch (error) {
    finish(fileFailure(error));
  }
}

function writeBatch() {
  if (file.pending === 0) return;
  for (let chunks = file.chunks, left = file.pending; left > 0; ) {
    const done = fs.writevSync(file.fd, chunks);
    left -= done;
    if (left > 0) chunks = unwritten(chunks, done);
  }
  file.written += file.pending;
  file.chunks = [];
  file.pending = 0;
  parentPort.postMessage({ type: 'written', bytes: file.written });
  if (!file.fsync || file.syncing || file.written - file.syncedUpTo < SYNC_STEP_BYTES) return;
  file.syncing = true;
  file.syncedUpTo = file.written;
  fs.fdatasync(file.fd, (error) => {
    file.syncing = false;
    if (error) file.failure = file.failure || fileFailure(error);
    if (file.finished) close();
    else if (error) finish();
  });
}

// What is left of chunks after their first done bytes were written.
function unwritten(chunks, done) {
  let index = 0;
  while (done >= chunks[index].length) done -= chunks[index++].length;
  const rest = chunks.slice(index);
  rest[0] = rest[0].subarray(done);
  return rest;
}

function finish(failure) {
  if (file.finished) return;
  file.finished = true;
  file.failure = file.failure || failure;
  response.removeListener('data', receive);
  discard();
  if (!file.failure || file.failure.kind !== 'file') {
    try {
      writeBatch();
    } catch (error) {
      file.failure = fileFailure(error);
    }
  }
  close();
}

function close() {
  if (file.syncing) return;
  try {
    if (file.fsync && !file.failure) fs.fsyncSync(file.fd);
  } catch (error) {
    file.failure = fileFailure(error);
  }
  try {
    fs.closeSync(file.fd);
  } catch (error) {
    file.failure = file.failure || fileFailure(error);
  }
  parentPort.postMessage({ type: 'end', bytes: file.written, failure: file.failure });
}

function fileFailure(error) {
  return { kind: 'file', message: error.message, code: error.code };
}
`;

/** Why a body transfer ended early: the file failed, the connection failed, or the server sent too much. */
type Failure = { kind: 'file'; message: string; code?: string } | { kind: 'body'; message: string } | { kind: 'size' };

type WorkerMessage =
  | { type: 'head'; status: number; headers: IncomingHttpHeaders }
  | { type: 'requestError'; message: string }
  | { type: 'written'; bytes: number }
  | { type: 'end'; bytes: number; failure?: Failure };

/** Status and headers of a response whose body the worker holds until {@link TransferWorker.saveBody} or `discard`. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
}

/** Where and how {@link TransferWorker.saveBody} writes a body. */
export interface SaveTarget {
  /** The partial file. */
  path: string;
  /** `w` starts the file over, `a` appends to it. */
  flags: 'w' | 'a';
  /** Most bytes accepted; more fails with `size_mismatch`. */
  maxBytes: number;
  /** Flush to stable storage as the file grows (in the background) and before finishing. */
  fsync: boolean;
}

/** What the operation in progress does with the worker's messages, and how it fails if the worker dies. */
interface Operation {
  onMessage(message: WorkerMessage): void;
  onCrash(error: DownloadError): void;
}

/**
 * One HTTP transfer on a worker thread of its own: GET requests (one at a time, e.g. along redirects) and the body of
 * the one accepted, appended to a partial file there. The decisions (which URL, what a status means, when to give
 * up) stay with the caller; {@link tick} on each progress interval keeps written bytes close behind received ones.
 * {@link close} ends the worker and any request it still has.
 */
export class TransferWorker {
  private readonly worker: Worker;
  private operation: Operation | undefined;
  private url = '';

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.on('message', (message: WorkerMessage) => this.operation?.onMessage(message));
    const crash = (why: string): void =>
      this.operation?.onCrash(new DownloadError('io_error', `The transfer worker of ${this.url} stopped: ${why}`));
    this.worker.on('error', (error) => crash(error.message));
    this.worker.on('exit', (code) => crash(`exit code ${code}`));
  }

  /**
   * Sends `GET url` and resolves to the response's status and headers; rejects with `network` when the request fails,
   * or with the signal's reason when it aborts first.
   */
  get(url: string, headers: Readonly<Record<string, string>>, signal: AbortSignal): Promise<ResponseHead> {
    this.url = url;
    return this.run(signal, (resolve, reject) => {
      this.worker.postMessage({ type: 'get', url, headers });
      return {
        onMessage: (message) => {
          if (message.type === 'head') resolve({ status: message.status, headers: message.headers });
          else if (message.type === 'requestError') reject(new DownloadError('network', `Request to ${url} failed: ${message.message}`, { url }));
        },
        onAbort: () => reject(signal.reason as Error),
      };
    });
  }

  /** Drops the body of the last response. */
  discard(): void {
    this.worker.postMessage({ type: 'discard' });
  }

  /**
   * Appends the body of the last response to `target.path`, calling `onWritten` with the bytes of each write once it
   * is done. Resolves when the body ended and is written (and flushed, with `fsync`); rejects with `network` when the
   * connection fails, `size_mismatch` beyond `maxBytes`, `disk_full` or `io_error` for the file. When `signal`
   * aborts, the bytes received so far are written first, then it rejects with the signal's reason: either way the
   * file holds exactly the bytes reported.
   */
  saveBody(target: SaveTarget, signal: AbortSignal, onWritten: (bytes: number) => void): Promise<void> {
    let reported = 0;
    return this.run(signal, (resolve, reject) => {
      this.worker.postMessage({ type: 'save', ...target });
      return {
        onMessage: (message) => {
          if (message.type !== 'written' && message.type !== 'end') return;
          if (message.bytes > reported) onWritten(message.bytes - reported);
          reported = message.bytes;
          if (message.type !== 'end') return;
          if (signal.aborted) reject(signal.reason as Error);
          else if (message.failure) reject(this.toError(message.failure, target));
          else resolve();
        },
        onAbort: () => this.worker.postMessage({ type: 'stop' }),
      };
    });
  }

  /** Writes what the transfer has received so far; call on each progress interval. */
  tick(): void {
    this.worker.postMessage({ type: 'tick' });
  }

  /** Ends the worker, and with it any request or connection it still has. */
  async close(): Promise<void> {
    this.operation = undefined;
    await this.worker.terminate();
  }

  /** Runs one operation: `start` posts to the worker and says how to handle its messages and an abort. */
  private run<T>(
    signal: AbortSignal,
    start: (
      resolve: (value: T) => void,
      reject: (error: Error) => void,
    ) => { onMessage: (message: WorkerMessage) => void; onAbort: () => void },
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const settle = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.operation = undefined;
      };
      const handlers = start(
        (value) => {
          settle();
          resolve(value);
        },
        (error) => {
          settle();
          reject(error);
        },
      );
      const onAbort = (): void => handlers.onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.operation = {
        onMessage: handlers.onMessage,
        onCrash: (error) => {
          settle();
          reject(error);
        },
      };
    });
  }

  private toError(failure: Failure, target: SaveTarget): DownloadError {
    if (failure.kind === 'size') {
      return new DownloadError('size_mismatch', `The server sent more than the ${target.maxBytes} bytes expected for ${target.path}`, {
        url: this.url,
      });
    }
    if (failure.kind === 'body') {
      return new DownloadError('network', `Reading ${this.url} failed: ${failure.message}`, { url: this.url });
    }
    return fileSystemError(Object.assign(new Error(failure.message), { code: failure.code }), `Writing ${target.path}`);
  }
}
