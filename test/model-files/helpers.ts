/** Test fixtures for model files: a fault-injecting HTTP server on loopback, generated files, temp directories. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelFile } from '../../src/core/catalog.js';

/** One request the server received. */
export interface RecordedRequest {
  path: string;
  range: string | undefined;
  headers: IncomingHttpHeaders;
}

/** Answers one request; `count` is how many requests this path has had, this one included. */
export type Handler = (req: IncomingMessage, res: ServerResponse, count: number) => void;

/** An HTTP server on 127.0.0.1 whose answers each test scripts per path. Unscripted paths get 404. */
export class ScriptedServer {
  readonly requests: RecordedRequest[] = [];
  private readonly handlers = new Map<string, Handler>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<ScriptedServer> {
    const server = createServer();
    const scripted = new ScriptedServer(server);
    server.on('request', (req, res) => scripted.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return scripted;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** URL of `path` on this server, optionally under another host name that resolves to loopback. */
  url(path: string, host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`;
  }

  on(path: string, handler: Handler): this {
    this.handlers.set(path, handler);
    return this;
  }

  requestsFor(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] as string;
    this.requests.push({ path, range: req.headers.range, headers: req.headers });
    const handler = this.handlers.get(path);
    if (!handler) {
      res.writeHead(404).end('not found');
      return;
    }
    handler(req, res, this.requestsFor(path).length);
  }
}

/** Options of {@link sendFile}. */
export interface SendFileOptions {
  /** Destroy the connection after sending this many body bytes. */
  dropAfterBytes?: number;
  /** Send this many body bytes, then nothing more (the connection stays open). */
  holdAfterBytes?: number;
  /** Answer 200 with the whole file even when a range was asked for. */
  ignoreRange?: boolean;
  /** The ETag sent; with `honourIfRange`, an If-Range naming another gets the whole file (200). */
  etag?: string;
  honourIfRange?: boolean;
  /** The total size announced in Content-Range (default the body's). */
  announcedSize?: number;
  /** The head goes out at once, the body once this resolves. */
  bodyAfter?: Promise<void>;
}

/**
 * Serves `body` honouring `Range: bytes=N-` and `bytes=N-M`, with optional faults. Returns how many body bytes it
 * sends (before a drop or hold), so tests can count what the server sent.
 */
export function sendFile(req: IncomingMessage, res: ServerResponse, body: Buffer, options: SendFileOptions = {}): number {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  const changed = options.honourIfRange === true && ifRange !== undefined && ifRange !== options.etag;
  const ranged = match !== null && !options.ignoreRange && !changed;
  const start = ranged ? Number(match[1]) : 0;
  const end = ranged && match[2] !== '' ? Number(match[2]) + 1 : body.length;
  const etag = options.etag === undefined ? {} : { etag: options.etag };
  if (ranged) {
    res.writeHead(206, {
      'content-length': end - start,
      'content-range': `bytes ${start}-${end - 1}/${options.announcedSize ?? body.length}`,
      'accept-ranges': 'bytes',
      ...etag,
    });
  } else {
    res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes', ...etag });
  }
  const rest = body.subarray(start, end);
  if (options.bodyAfter) {
    res.flushHeaders();
    void options.bodyAfter.then(() => res.end(rest));
    return rest.length;
  }
  if (options.holdAfterBytes !== undefined) {
    res.write(rest.subarray(0, options.holdAfterBytes));
    return Math.min(rest.length, options.holdAfterBytes);
  }
  if (options.dropAfterBytes === undefined) {
    res.end(rest);
    return rest.length;
  }
  res.write(rest.subarray(0, options.dropAfterBytes), () => res.socket?.destroy());
  return Math.min(rest.length, options.dropAfterBytes);
}

/** A generated file and its catalog entry. */
export interface GeneratedFile {
  body: Buffer;
  sha256: string;
}

/** Random bytes of `size` with their sha256. */
export function generateFile(size: number): GeneratedFile {
  const body = randomBytes(size);
  return { body, sha256: createHash('sha256').update(body).digest('hex') };
}

/** A catalog file entry for `generated` at `path`, fetched from `urls`. */
export function catalogFile(path: string, generated: GeneratedFile, urls: string[]): ModelFile {
  return { path, sizeBytes: generated.body.length, sha256: generated.sha256, urls };
}

/** A fresh directory under the OS temp dir; remove it with {@link removeDir}. */
export function makeTempDir(prefix = 'understudy-model-files-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/**
 * Lets I/O and promise callbacks run until `predicate` holds. Fails after 5 s of real time; this guards against a
 * hang and is not a timeout the code under test relies on.
 */
export async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
