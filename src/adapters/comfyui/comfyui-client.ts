/**
 * A client for ComfyUI's HTTP and WebSocket API (server.py), one method per route the adapter uses. Every request has
 * a time limit on the injected clock and stops when the caller's signal aborts (rejecting with the signal's reason).
 * Failures are BackendErrors the failure classifier understands: {@link ComfyUiHttpError} for an error status,
 * system error codes (ECONNREFUSED, ETIMEDOUT, …) for connection problems.
 */
import { EventEmitter, type Event } from 'cockatiel';
import { WebSocket } from 'ws';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import { BackendError } from '../../runtime/backend.js';
import type { ComfyUiEndpoint } from './comfyui-endpoint.js';
import { ComfyUiHttpError, connectionError, httpError, statusHint, timeoutError } from './comfyui-errors.js';
import { parseComfyUiMessage, type ComfyUiMessage, type OutputFile } from './comfyui-messages.js';

/** Options of a {@link ComfyUiClient}. */
export interface ComfyUiClientOptions {
  /** The server: base URL, query and headers for the proxy in front of it (see comfyui-endpoint.ts). */
  readonly endpoint: ComfyUiEndpoint;
  readonly clock: Clock;
  /** Limit of one HTTP request, body included, ms. */
  readonly requestTimeoutMs: number;
  /** Limit of opening the WebSocket, ms. */
  readonly connectTimeoutMs: number;
}

/** What POST /prompt answers. */
export interface SubmittedPrompt {
  readonly promptId: string;
  /** Queue number ComfyUI gave the prompt. */
  readonly number: number;
}

/** Prompt ids in ComfyUI's queue (GET /queue). */
export interface QueueSnapshot {
  readonly running: readonly string[];
  readonly pending: readonly string[];
}

const QueueItemsSchema = z.array(z.array(z.unknown()));
const QueueSchema = z.looseObject({ queue_running: QueueItemsSchema, queue_pending: QueueItemsSchema });

const HistoryEntrySchema = z.looseObject({
  outputs: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  status: z
    .looseObject({
      status_str: z.string().optional(),
      completed: z.boolean().optional(),
      messages: z.array(z.tuple([z.string(), z.unknown()])).default([]),
    })
    .optional(),
});
/** One prompt's record in GET /history/{prompt_id}: outputs per node and how it ended. */
export type HistoryEntry = z.output<typeof HistoryEntrySchema>;

const DeviceSchema = z.looseObject({
  name: z.string(),
  type: z.string(),
  index: z.number().nullable().optional(),
  vram_total: z.number(),
  vram_free: z.number(),
});
const SystemStatsSchema = z.looseObject({
  system: z.looseObject({ comfyui_version: z.string().optional(), argv: z.array(z.string()).optional() }),
  devices: z.array(DeviceSchema),
});
/** GET /system_stats: the server (version, argv) and its torch devices with VRAM in bytes. */
export type SystemStats = z.output<typeof SystemStatsSchema>;
export type SystemStatsDevice = z.output<typeof DeviceSchema>;

const PromptAcceptedSchema = z.looseObject({ prompt_id: z.string().min(1), number: z.number() });
const UploadedSchema = z.looseObject({ name: z.string().min(1), subfolder: z.string().default(''), type: z.string().default('input') });

/** A file's bytes as GET /view served them. */
export interface ViewedFile {
  readonly bytes: Uint8Array;
  /** The Content-Type header, when there was one. */
  readonly contentType: string | undefined;
}

/** HTTP and WebSocket access to one ComfyUI server. */
export class ComfyUiClient {
  /** Names the server in error messages: `ComfyUI at http://…`. */
  readonly label: string;

  constructor(private readonly options: ComfyUiClientOptions) {
    this.label = `ComfyUI at ${options.endpoint.display}`;
  }

  /**
   * POST /prompt: queues an API-format workflow for `clientId`'s WebSocket, asking for `promptId` as its id (servers
   * before client-chosen ids pick their own: use the id returned). A rejected workflow throws a 400 naming the nodes.
   */
  async submitPrompt(workflow: Readonly<Record<string, unknown>>, clientId: string, promptId: string, signal: AbortSignal): Promise<SubmittedPrompt> {
    const body = await this.json('POST', '/prompt', signal, { prompt: workflow, client_id: clientId, prompt_id: promptId });
    const accepted = this.parse(PromptAcceptedSchema, body, 'POST /prompt');
    return { promptId: accepted.prompt_id, number: accepted.number };
  }

  /** GET /queue: the prompt ids running and waiting. */
  async queue(signal: AbortSignal): Promise<QueueSnapshot> {
    const queue = this.parse(QueueSchema, await this.json('GET', '/queue', signal), 'GET /queue');
    const ids = (items: unknown[][]): string[] => items.flatMap((item) => (typeof item[1] === 'string' ? [item[1]] : []));
    return { running: ids(queue.queue_running), pending: ids(queue.queue_pending) };
  }

  /** POST /queue {delete}: removes waiting prompts (a running prompt is not affected; see {@link interrupt}). */
  async deleteFromQueue(promptIds: readonly string[], signal: AbortSignal): Promise<void> {
    await this.json('POST', '/queue', signal, { delete: promptIds });
  }

  /** POST /interrupt {prompt_id}: stops the prompt if it is the one running (servers before the prompt_id body stop whatever runs). */
  async interrupt(promptId: string, signal: AbortSignal): Promise<void> {
    await this.json('POST', '/interrupt', signal, { prompt_id: promptId });
  }

  /** POST /free: asks ComfyUI to unload models and/or free cached memory (done when no prompt is running). */
  async free(request: { unloadModels?: boolean; freeMemory?: boolean }, signal: AbortSignal): Promise<void> {
    await this.json('POST', '/free', signal, { unload_models: request.unloadModels ?? false, free_memory: request.freeMemory ?? false });
  }

  /** GET /history/{prompt_id}: the prompt's outputs and status, or null while it has not finished. */
  async history(promptId: string, signal: AbortSignal): Promise<HistoryEntry | null> {
    const body = await this.json('GET', `/history/${encodeURIComponent(promptId)}`, signal);
    const entry = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[promptId] : undefined;
    return entry === undefined ? null : this.parse(HistoryEntrySchema, entry, `GET /history/${promptId}`);
  }

  /** POST /history {delete}: forgets finished prompts (their outputs and workflow); unknown ids are ignored. */
  async deleteHistory(promptIds: readonly string[], signal: AbortSignal): Promise<void> {
    await this.json('POST', '/history', signal, { delete: promptIds });
  }

  /** GET /view: the bytes of an output file. */
  async view(file: OutputFile, signal: AbortSignal): Promise<ViewedFile> {
    const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
    return this.request('GET', `/view?${query}`, signal, undefined, async (response) => ({
      bytes: new Uint8Array(await response.arrayBuffer()),
      contentType: response.headers.get('content-type') ?? undefined,
    }));
  }

  /** POST /upload/image: stores an input image; resolves with the name a LoadImage node takes. */
  async uploadImage(bytes: Uint8Array, fileName: string, mediaType: string, signal: AbortSignal): Promise<string> {
    const form = new FormData();
    form.set('image', new Blob([bytes], { type: mediaType }), fileName);
    form.set('type', 'input');
    form.set('overwrite', 'true');
    const uploaded = this.parse(UploadedSchema, await this.json('POST', '/upload/image', signal, form), 'POST /upload/image');
    return uploaded.subfolder ? `${uploaded.subfolder}/${uploaded.name}` : uploaded.name;
  }

  /** GET /system_stats: version, argv and devices with VRAM. */
  async systemStats(signal: AbortSignal): Promise<SystemStats> {
    return this.parse(SystemStatsSchema, await this.json('GET', '/system_stats', signal), 'GET /system_stats');
  }

  /** GET /models/{folder}: file names in a model folder as ComfyUI lists them ("\\" separators on Windows), or null when the server has no such folder. */
  async listModels(folder: string, signal: AbortSignal): Promise<string[] | null> {
    try {
      return this.parse(z.array(z.string()), await this.json('GET', `/models/${encodeURIComponent(folder)}`, signal), `GET /models/${folder}`);
    } catch (error) {
      if (error instanceof ComfyUiHttpError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * Opens `/ws?clientId=…`. ComfyUI sends this client the messages of the prompts submitted with the same client id,
   * and replaces an older socket of the same id, so a reconnect resumes the stream.
   */
  openSocket(clientId: string, signal: AbortSignal): Promise<ComfyUiSocket> {
    const url = this.url('/ws');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('clientId', clientId);
    const what = `${this.label}: WebSocket ${url.pathname}`;
    return new Promise<ComfyUiSocket>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const socket = new WebSocket(url, { headers: { ...this.options.endpoint.headers } });
      const fail = (error: Error): void => {
        cleanup();
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.terminate();
        reject(error);
      };
      const timer = this.options.clock.setTimeout(() => fail(timeoutError(what, this.options.connectTimeoutMs)), this.options.connectTimeoutMs);
      const onAbort = (): void => fail(signal.reason as Error);
      const onError = (error: Error): void => fail(connectionError(what, error));
      const onClose = (code: number): void => fail(new BackendError(`${what}: closed while opening (code ${code})`, { code: 'ECONNRESET' }));
      const cleanup = (): void => {
        this.options.clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      socket.once('error', onError);
      socket.once('close', onClose);
      // A proxy refusing the upgrade (401, 403, 404 behind a wrong prefix) answers with a plain HTTP response.
      socket.once('unexpected-response', (_request, response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        fail(new ComfyUiHttpError(`${what} failed with HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}${statusHint(status)}`, status, ''));
      });
      socket.once('open', () => {
        cleanup();
        resolve(new ComfyUiSocket(socket, what));
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private json(method: 'GET' | 'POST', path: string, signal: AbortSignal, body?: unknown): Promise<unknown> {
    return this.request(method, path, signal, body, async (response) => {
      const text = await response.text();
      if (text.trim() === '') return null;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new BackendError(`${this.label}: ${method} ${routeOf(path)} answered with a body that is not JSON: ${text.slice(0, 120)}`, {
          code: 'COMFYUI_PROTOCOL',
        });
      }
    });
  }

  /** Runs one request under the time limit; the limit covers reading the body in `read`. */
  private async request<T>(
    method: 'GET' | 'POST',
    path: string,
    signal: AbortSignal,
    body: unknown,
    read: (response: Response) => Promise<T>,
  ): Promise<T> {
    const what = `${this.label}: ${method} ${routeOf(path)}`;
    if (signal.aborted) throw signal.reason;
    const controller = new AbortController();
    const { clock, requestTimeoutMs } = this.options;
    const timer = clock.setTimeout(() => controller.abort(timeoutError(what, requestTimeoutMs)), requestTimeoutMs);
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const headers: Record<string, string> = { ...this.options.endpoint.headers };
      const init: RequestInit = { method, signal: controller.signal, headers };
      if (body instanceof FormData) init.body = body;
      else if (body !== undefined) {
        init.body = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
      let response: Response;
      try {
        response = await fetch(this.url(path), init);
      } catch (error) {
        throw controller.signal.aborted ? controller.signal.reason : connectionError(what, error);
      }
      if (!response.ok) throw await httpError(what, method, path, response);
      try {
        return await read(response);
      } catch (error) {
        if (controller.signal.aborted) throw controller.signal.reason;
        if (error instanceof BackendError) throw error;
        throw connectionError(what, error);
      }
    } finally {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The URL of `path` (which may carry its own query), with the configured query added. */
  private url(path: string): URL {
    const url = new URL(`${this.options.endpoint.baseUrl}${path}`);
    for (const [name, value] of this.options.endpoint.query) url.searchParams.append(name, value);
    return url;
  }

  private parse<S extends z.ZodType>(schema: S, value: unknown, route: string): z.output<S> {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(body)';
    throw new BackendError(`${this.label}: ${route} answered in an unexpected shape: ${where}: ${issue?.message}`, { code: 'COMFYUI_PROTOCOL' });
  }
}

/** Events of an open {@link ComfyUiSocket}. */
export type ComfyUiSocketEvent =
  | { readonly kind: 'message'; readonly message: ComfyUiMessage }
  /** The socket closed or failed; `error` says how (a network error for the classifier). Nothing follows. */
  | { readonly kind: 'closed'; readonly error: BackendError };

/**
 * An open `/ws` connection: parsed messages in order, then one `closed` event. Binary preview frames are skipped.
 * Events that arrive before the first listener (ComfyUI sends `status` and, on a reconnect, `executing` right after
 * the upgrade) are kept and given to that listener, so none is lost between opening and listening.
 */
export class ComfyUiSocket {
  private readonly events = new EventEmitter<ComfyUiSocketEvent>();
  /** Events received before the first listener. */
  private readonly unheard: ComfyUiSocketEvent[] = [];
  private heard = false;
  /** Messages, then the close; the first listener also gets what arrived before it. */
  readonly onEvent: Event<ComfyUiSocketEvent> = (listener) => {
    const subscription = this.events.addListener(listener);
    if (!this.heard) {
      this.heard = true;
      for (const event of this.unheard.splice(0)) this.events.emit(event);
    }
    return subscription;
  };
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly what: string,
  ) {
    socket.on('message', (data, isBinary) => {
      if (isBinary || this.closed) return;
      let message: ComfyUiMessage | null;
      try {
        message = parseComfyUiMessage(rawText(data));
      } catch (error) {
        this.finish(new BackendError(`${what}: ${(error as Error).message}`, { code: 'COMFYUI_PROTOCOL' }));
        return;
      }
      if (message) this.emit({ kind: 'message', message });
    });
    socket.on('error', (error) => this.finish(connectionError(what, error)));
    socket.on('close', (code, reason) => {
      const detail = reason.length > 0 ? `: ${reason.toString()}` : '';
      this.finish(new BackendError(`${what}: connection closed by the server (code ${code}${detail})`, { code: 'ECONNRESET' }));
    });
  }

  /** Whether the socket is still open. */
  get open(): boolean {
    return !this.closed;
  }

  /** Closes the socket; no `closed` event follows a close asked for here. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.removeAllListeners();
    this.socket.on('error', () => undefined);
    this.socket.terminate();
  }

  private finish(error: BackendError): void {
    if (this.closed) return;
    this.close();
    this.emit({ kind: 'closed', error });
  }

  private emit(event: ComfyUiSocketEvent): void {
    if (this.heard) this.events.emit(event);
    else this.unheard.push(event);
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

function routeOf(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}
