import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { DownloadError, fileSystemError } from './download-errors.js';
import { proxyFor, type ProxySettings } from './proxy-settings.js';

/**
 * Each read from the socket lands in one buffer of this size, reused for every read. Node's HTTP client hands each
 * body chunk over in a newly allocated buffer; on a virtual machine that hands freed memory back to its host, that
 * churn cost 0.9 to 3.4 CPU s per GiB received (30,000 page faults), against 0.35 for one reused buffer (3,400 page
 * faults). Measured with 1 GiB: 64 KiB reads 0.61 CPU s, 256 KiB 0.36, 1 MiB 0.35.
 */
const READ_BYTES = 1024 * 1024;

/**
 * Largest single write. Writes of 1 MiB and more get large page-cache folios, which on a virtual machine that hands
 * freed memory back to its host often come from memory the host must fault in again: measured with dd, 1 GiB in 1 MiB
 * writes took 0.2 to 1.1 CPU s, in 512 KiB or 256 KiB writes a steady 0.2.
 */
const WRITE_BYTES = 256 * 1024;

/** A fast transfer reports its written bytes every this many bytes (and on each tick), to keep messages few. */
const REPORT_BYTES = 4 * 1024 * 1024;

/** With `fsync`, written data is flushed in the background every this many bytes, so the final flush is short. */
const SYNC_STEP_BYTES = 64 * 1024 * 1024;

/** The response parser the worker requires, by absolute path: an eval'd worker resolves modules from the cwd. */
const HTTP_PARSER_PATH = createRequire(import.meta.url).resolve('http-parser-js');

/**
 * The worker's code, plain CommonJS (like the hash worker's) so it runs the same from TypeScript sources and from
 * the build, in a heap of its own. It sends one `GET` at a time over a plain `net`/`tls` socket (`connection: close`)
 * that reads into one reused buffer (`onread`), and parses the response with http-parser-js, whose body chunks are
 * views into that buffer; so a gigabyte received allocates next to nothing. The head goes to the engine while the
 * socket pauses; body bytes that came with the head are kept (copied) until the engine says `save` or `discard`.
 * When told to save, it appends each body chunk to the file with a synchronous write before the next read, so:
 *
 * - bytes are on disk as soon as they are received, and an interrupted transfer keeps every byte it received;
 * - written bytes are reported at once while the transfer is slow (less than REPORT_BYTES between two ticks), else
 *   every REPORT_BYTES and on every tick (the downloader's progress interval on its Clock);
 * - with `fsync`, the file is flushed in the background every SYNC_STEP_BYTES and once more before it is closed.
 *
 * `end` carries the final count of bytes written and why the transfer ended.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const { validateHeaderName, validateHeaderValue } = require('node:http');
const { HTTPParser } = require(${JSON.stringify(HTTP_PARSER_PATH)});
const READ_BYTES = ${READ_BYTES};
const REPORT_BYTES = ${REPORT_BYTES};
const WRITE_BYTES = ${WRITE_BYTES};
const SYNC_STEP_BYTES = ${SYNC_STEP_BYTES};
const FIRST_VALUE_ONLY = new Set(['content-length', 'content-range', 'content-type', 'location', 'retry-after']);
const readBuffer = Buffer.allocUnsafe(READ_BYTES);
let exchange;
let file;

parentPort.on('message', (message) => {
  if (message.type === 'get') get(message.url, message.headers, message.ca, message.proxy);
  else if (message.type === 'discard') discard();
  else if (message.type === 'save') save(message);
  else if (message.type === 'tick') tick();
  else if (message.type === 'stop' && file) finish();
});

function get(url, headers, ca, proxy) {
  discard();
  const current = { socket: undefined, parser: new HTTPParser(HTTPParser.RESPONSE), answered: false, complete: false, early: [], ended: false };
  exchange = current;
  const target = new URL(url);
  const via = proxy ? new URL(proxy) : undefined;
  const secure = target.protocol === 'https:';
  let request;
  try {
    request = requestText(target, headers, via !== undefined && !secure, via && !secure ? proxyAuthorization(via) : undefined);
  } catch (error) {
    return requestFailed(current, error.message);
  }
  const { host, port } = endpoint(target, secure ? 443 : 80);
  const tlsOptions = { ALPNProtocols: ['http/1.1'], ...(net.isIP(host) ? {} : { servername: host }), ...(ca ? { ca: [...tls.rootCertificates, ca] } : {}) };
  const onread = { buffer: readBuffer, callback: (bytes) => received(current, readBuffer, bytes) };
  if (via && secure) return tunnel(current, via, host, port, tlsOptions, request);
  const socket = via
    ? net.connect({ ...endpoint(via, 80), onread })
    : secure
      ? tls.connect({ host, port, onread, ...tlsOptions })
      : net.connect({ host, port, onread });
  socket.on(secure ? 'secureConnect' : 'connect', () => socket.write(request));
  watch(current, socket);
}

// Sends the request through an http proxy's CONNECT tunnel, then TLS inside it. TLS on a socket of one's own cannot
// read into a buffer of one's own (onread), so these responses come as chunks; reads are paused the same way.
function tunnel(current, via, host, port, tlsOptions, request) {
  const authority = (net.isIPv6(host) ? '[' + host + ']' : host) + ':' + port;
  const socket = net.connect(endpoint(via, 80));
  current.socket = socket;
  socket.on('connect', () => {
    const auth = proxyAuthorization(via);
    socket.write('CONNECT ' + authority + ' HTTP/1.1\\r\\nhost: ' + authority + '\\r\\n' + (auth ? 'proxy-authorization: ' + auth + '\\r\\n' : '') + '\\r\\n');
  });
  socket.on('error', (error) => requestFailed(current, 'the proxy ' + via.host + ' failed: ' + error.message));
  socket.on('close', () => requestFailed(current, 'the proxy ' + via.host + ' closed the connection before the tunnel was open'));
  const answer = new HTTPParser(HTTPParser.RESPONSE);
  let status;
  answer[HTTPParser.kOnHeadersComplete] = (info) => {
    status = info.statusCode;
    return 2;
  };
  const onData = (chunk) => {
    const outcome = answer.execute(chunk);
    if (outcome instanceof Error) return requestFailed(current, 'the proxy ' + via.host + ' answered CONNECT with an invalid response: ' + outcome.message);
    if (status === undefined) return;
    socket.removeListener('data', onData);
    socket.removeAllListeners('close');
    socket.removeAllListeners('error');
    if (status < 200 || status > 299) return requestFailed(current, 'the proxy ' + via.host + ' answered ' + status + ' to CONNECT ' + authority, status);
    const secured = tls.connect({ socket, ...tlsOptions });
    secured.on('secureConnect', () => secured.write(request));
    secured.on('data', (data) => {
      if (!received(current, data, data.length)) secured.pause();
    });
    watch(current, secured);
  };
  socket.on('data', onData);
}

// Where to connect for a URL: its host name without IPv6 brackets, and its port or the default.
function endpoint(url, defaultPort) {
  return { host: url.hostname.replace(/^\\[|\\]$/g, ''), port: Number(url.port) || defaultPort };
}

function proxyAuthorization(via) {
  if (!via.username) return undefined;
  const credentials = decodeURIComponent(via.username) + ':' + decodeURIComponent(via.password);
  return 'Basic ' + Buffer.from(credentials).toString('base64');
}

function watch(current, socket) {
  current.socket = socket;
  socket.on('error', (error) => connectionEnded(current, error.message));
  socket.on('end', () => connectionEnded(current));
  socket.on('close', () => connectionEnded(current));
  const parser = current.parser;
  parser[HTTPParser.kOnHeadersComplete] = (info) => answer(current, info);
  parser[HTTPParser.kOnBody] = (chunk, offset, length) => body(current, chunk.subarray(offset, offset + length));
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (!current.answered) return;
    current.complete = true;
    if (file && exchange === current) finish();
  };
}

// The request line and headers; through an http proxy (proxyAuth set or not), the absolute URL is the target.
function requestText(target, headers, proxied, proxyAuth) {
  const path = proxied ? target.href : target.pathname + target.search;
  let text = 'GET ' + path + ' HTTP/1.1\\r\\nhost: ' + target.host + '\\r\\n' + (proxyAuth ? 'proxy-authorization: ' + proxyAuth + '\\r\\n' : '');
  for (const [name, value] of Object.entries(headers)) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    text += name + ': ' + value + '\\r\\n';
  }
  return text + 'connection: close\\r\\n\\r\\n';
}

// Every read lands in readBuffer (or, through a proxy's tunnel, a chunk of its own): the parser's body views into it
// are written (or, before save, copied) before this returns, so the next read can reuse it.
function received(current, buffer, bytes) {
  if (exchange !== current) return false;
  const outcome = current.parser.execute(buffer, 0, bytes);
  if (outcome instanceof Error) {
    const message = 'invalid HTTP response: ' + outcome.message;
    if (current.answered) finishIfSaving(current, { kind: 'body', message });
    else requestFailed(current, message);
    return false;
  }
  if (exchange !== current) return false;
  if (file && !file.finished) report();
  return file !== undefined || !current.answered;
}

function answer(current, info) {
  const status = info.statusCode;
  if (status >= 100 && status < 200) return true;
  current.answered = true;
  const headers = {};
  for (let i = 0; i < info.headers.length; i += 2) {
    const name = info.headers[i].toLowerCase();
    const value = info.headers[i + 1];
    if (headers[name] === undefined) headers[name] = value;
    else if (!FIRST_VALUE_ONLY.has(name)) headers[name] += ', ' + value;
  }
  parentPort.postMessage({ type: 'head', status, headers });
  return status === 204 || status === 304;
}

function body(current, view) {
  if (!file) {
    current.early.push(Buffer.from(view));
    return;
  }
  if (file.finished) return;
  if (file.received + view.length > file.maxBytes) return finish({ kind: 'size' });
  file.received += view.length;
  try {
    writeAll(view);
  } catch (error) {
    finish(fileFailure(error));
  }
}

function connectionEnded(current, why) {
  if (current.ended || exchange !== current) return;
  current.ended = true;
  if (!current.answered) return requestFailed(current, why || 'the server closed the connection before answering');
  // A body delimited by the end of the connection (no content-length) completes here.
  if (!current.complete) current.parser.finish();
  if (!current.complete) finishIfSaving(current, { kind: 'body', message: why || 'the server closed the connection before the body ended' });
}

function requestFailed(current, message, proxyStatus) {
  if (exchange !== current) return;
  discard();
  parentPort.postMessage({ type: 'requestError', message, proxyStatus });
}

function finishIfSaving(current, failure) {
  if (file && !file.finished) finish(failure);
  else current.failure = current.failure || failure;
}

function discard() {
  if (exchange) exchange.socket?.destroy();
  exchange = undefined;
}

function save(target) {
  const current = exchange;
  let fd;
  try {
    fd = fs.openSync(target.path, target.flags);
  } catch (error) {
    parentPort.postMessage({ type: 'end', bytes: 0, failure: fileFailure(error) });
    return;
  }
  file = {
    fd, maxBytes: target.maxBytes, fsync: target.fsync, received: 0, receivedAtTick: 0, written: 0, reported: 0,
    syncedUpTo: 0, syncing: false, eager: true, turnPending: false, finished: false, failure: undefined,
  };
  if (!current) return finish({ kind: 'body', message: 'the response was discarded' });
  for (const chunk of current.early) body(current, chunk);
  current.early = [];
  if (file.finished) return;
  if (current.complete) return finish();
  if (current.failure || current.ended) return finish(current.failure || { kind: 'body', message: 'the server closed the connection before the body ended' });
  report();
  current.socket.resume();
}

// Tells the engine what is written: at once while the transfer is slow (less than REPORT_BYTES between two ticks),
// otherwise every REPORT_BYTES and on each tick.
function report() {
  if (file.written - file.reported >= REPORT_BYTES) reportWritten();
  else if (file.eager && !file.turnPending && file.written > file.reported) {
    file.turnPending = true;
    setImmediate(() => {
      file.turnPending = false;
      if (!file.finished) reportWritten();
    });
  }
}

function reportWritten() {
  if (file.written === file.reported) return;
  file.reported = file.written;
  parentPort.postMessage({ type: 'written', bytes: file.written });
}

function tick() {
  if (!file || file.finished) return;
  reportWritten();
  file.eager = file.received - file.receivedAtTick < REPORT_BYTES;
  file.receivedAtTick = file.received;
}

// Counts each write as it succeeds, so that after a failure the count still equals the bytes in the file.
function writeAll(view) {
  for (let offset = 0; offset < view.length; ) {
    const done = fs.writeSync(file.fd, view, offset, Math.min(WRITE_BYTES, view.length - offset));
    offset += done;
    file.written += done;
  }
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

function finish(failure) {
  if (file.finished) return;
  file.finished = true;
  file.failure = file.failure || failure;
  discard();
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
  | { type: 'requestError'; message: string; proxyStatus?: number }
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
 * up) stay with the caller; {@link tick} on each progress interval keeps the reported bytes close behind those on disk.
 * {@link close} ends the worker and any request it still has.
 */
export class TransferWorker {
  private readonly worker: Worker;
  private operation: Operation | undefined;
  private url = '';
  /** Status of the last response, named in errors about its body. */
  private status: number | undefined;

  /**
   * `ca`: PEM certificates trusted for https beside Node's bundled roots (e.g. a private mirror's). `proxy`: where the
   * proxy for each URL comes from (see {@link proxyFor}; by default `HTTP(S)_PROXY` and `NO_PROXY`).
   */
  constructor(private readonly options: { ca?: string; proxy?: ProxySettings } = {}) {
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
    this.status = undefined;
    let proxy: string | undefined;
    try {
      proxy = proxyFor(new URL(url), this.options.proxy);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.run(signal, (resolve, reject) => {
      this.worker.postMessage({ type: 'get', url, headers, ca: this.options.ca, proxy });
      return {
        onMessage: (message) => {
          if (message.type === 'head') {
            this.status = message.status;
            resolve({ status: message.status, headers: message.headers });
          } else if (message.type === 'requestError') {
            // A proxy that wants credentials will not take the same ones on a retry.
            const code = message.proxyStatus === 407 ? 'forbidden' : 'network';
            reject(new DownloadError(code, `Request to ${url} failed: ${message.message}`, { url }));
          }
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
   * Appends the body of the last response to `target.path`, calling `onWritten` with the bytes written since its last
   * call. Resolves when the body ended and is written (and flushed, with `fsync`); rejects with `network` when the
   * connection fails, `size_mismatch` beyond `maxBytes`, `disk_full` or `io_error` for the file. When `signal`
   * aborts, it rejects with the signal's reason once the file is closed: either way the file holds exactly the bytes
   * reported (each received byte is written before the next read).
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

  /** Has the worker report the bytes written so far; call on each progress interval. */
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
    const facts = { url: this.url, ...(this.status === undefined ? {} : { httpStatus: this.status }) };
    if (failure.kind === 'size') {
      return new DownloadError('size_mismatch', `The server sent more than the ${target.maxBytes} bytes expected for ${target.path}`, facts);
    }
    if (failure.kind === 'body') return new DownloadError('network', `Reading ${this.url} failed: ${failure.message}`, facts);
    return fileSystemError(Object.assign(new Error(failure.message), { code: failure.code }), `Writing ${target.path}`);
  }
}
