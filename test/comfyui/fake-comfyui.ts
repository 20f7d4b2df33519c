/**
 * A fake ComfyUI server for the adapter's tests, written to ComfyUI's real protocol (server.py, execution.py and
 * main.py of v0.3.x): the HTTP routes with their bodies and status codes, and the WebSocket messages in the order a
 * real server sends them to the client id of a prompt:
 *
 *   status (on connect, with sid) · status (queue changed) · execution_start · execution_cached ·
 *   { executing · progress… · executed (save nodes) }… · execution_success · status · executing {node: null}
 *
 * or, on failure, execution_error / execution_interrupted instead of the rest, then status and executing null.
 * Prompts run one at a time in queue order, like ComfyUI's single prompt worker. POST /prompt validates like
 * execution.py's validate_prompt (fake-validate-prompt.ts) against real node definitions (fake-object-info.ts), with
 * ComfyUI's error types and texts. Loader outputs are cached from one prompt to the next (no `executing` for them,
 * `executed` with `output: null`), `progress_state` accompanies progress, POST /free needs a JSON body and takes
 * effect once the running prompt is done, and a dropped socket's close pops the client id unguarded, as server.py does.
 *
 * Scripts make the next prompts succeed, fail out of memory, drop the socket mid-job, or hold at their first
 * sampling step until released or interrupted. Started on 127.0.0.1, port 0.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { isAtLeast } from '../../src/adapters/comfyui/comfyui-version.js';
import { objectInfo } from './fake-object-info.js';
import { validatePrompt } from './fake-validate-prompt.js';

const GIB = 1024 ** 3;

/** What the next prompt does. */
export type JobScript =
  /** Runs every node; samplers report every step; save nodes write a small file. */
  | { readonly kind: 'success' }
  /**
   * Fails at the second step of the first sampler with torch.OutOfMemoryError, ComfyUI's full text. With
   * `frameLost` the execution_error is recorded in /history but never reaches the socket (a frame missed).
   */
  | { readonly kind: 'oom'; readonly frameLost?: boolean }
  /**
   * Closes the client's socket after the first sampling step, then carries on to success. `closeNoticedLate`: the
   * old socket's close is handled after the client reconnected, so server.py's unguarded `sockets.pop(sid)` drops
   * the new socket and nothing more reaches the client. `holdAfterDrop`: waits for {@link FakeComfyUi.release}.
   */
  | { readonly kind: 'drop_socket'; readonly closeNoticedLate?: boolean; readonly holdAfterDrop?: boolean }
  /** Pauses at the first sampling step until {@link FakeComfyUi.release} or an interrupt. */
  | { readonly kind: 'hold' };

/** A request the server received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A prompt accepted by POST /prompt. */
export interface AcceptedPrompt {
  readonly promptId: string;
  readonly clientId: string | undefined;
  readonly workflow: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
  readonly number: number;
}

/** Settings of the fake. */
export interface FakeComfyUiOptions {
  /** Files per model folder (GET /models/{folder}); a folder not listed answers 404. Default: the shipped templates' files. */
  readonly models?: Record<string, string[]>;
  /** VRAM of the one CUDA device, bytes. Default 24 GiB total, 20 GiB free. */
  readonly vram?: { total: number; free: number };
  /** Steps every sampler reports. Default 3. */
  readonly stepsPerSampler?: number;
  /** Whether a finished prompt ends with `executing` {node: null} (true, as main.py does); false tests clients that must not depend on it. */
  readonly sendsExecutingNull?: boolean;
  /**
   * Headers every request and WebSocket upgrade must carry, as a proxy in front of ComfyUI demands (ComfyUI itself
   * has no auth); others get 401. Default none.
   */
  readonly requiredHeaders?: Readonly<Record<string, string>>;
  /**
   * `comfyui_version` in /system_stats. Default 0.3.60. Below 0.3.57 POST /interrupt stops whatever runs, whatever
   * `prompt_id` it names, as servers did before PR #9607.
   */
  readonly version?: string;
  /** Node classes this server lacks (a node pack not installed, a ComfyUI too old): POST /prompt rejects them. */
  readonly withoutNodes?: readonly string[];
}

/** Every model file the shipped Wan2.2 templates load. */
export const WAN22_MODEL_FILES: Record<string, string[]> = {
  diffusion_models: [
    'wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors',
    'wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors',
    'wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors',
    'wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors',
    'wan2.2_ti2v_5B_fp16.safetensors',
  ],
  text_encoders: ['umt5_xxl_fp8_e4m3fn_scaled.safetensors'],
  vae: ['wan_2.1_vae.safetensors', 'wan2.2_vae.safetensors'],
  loras: [],
  checkpoints: [],
  clip_vision: [],
};

/** Loader nodes whose outputs ComfyUI's cache keeps from one prompt to the next when their inputs are the same. */
const CACHED_LOADERS = new Set(['UNETLoader', 'CLIPLoader', 'VAELoader', 'UnetLoaderGGUF', 'CLIPLoaderGGUF']);
const SAVE_NODES: Record<string, string> = { SaveVideo: 'mp4', SaveWEBM: 'webm', SaveAnimatedWEBP: 'webp', SaveImage: 'png' };

/** torch's cudaMallocAsync out-of-memory text (c10/cuda/CUDACachingAllocator), as ComfyUI passes it on. */
export const CUDA_OOM_TEXT =
  'Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated     : 21.47 GiB\nRequested               : 1.41 GiB\nDevice limit            : 23.99 GiB\nFree (according to CUDA): 0 bytes\nPyTorch limit (set by user-supplied memory fraction)\n                        : 17179869184.00 GiB';
/** What execution.py appends to an OOM exception's message (`"{}\n{}".format(ex, tips)`). */
export const OOM_TIPS =
  'This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number.';

/** Bytes of every file the fake "saves": recognisable in tests. */
export const FAKE_VIDEO_BYTES = Buffer.from('fake mp4 bytes from the fake ComfyUI');

interface QueueItem {
  readonly prompt: AcceptedPrompt;
  readonly script: JobScript;
}

interface HistoryEntry {
  prompt: unknown[];
  outputs: Record<string, Record<string, unknown>>;
  status: { status_str: string; completed: boolean; messages: Array<[string, unknown]> };
  meta: Record<string, unknown>;
}

/** The fake server. */
export class FakeComfyUi {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url = '';
  readonly requests: RecordedRequest[] = [];
  readonly prompts: AcceptedPrompt[] = [];
  /** Every JSON message sent, per client id, in order. */
  readonly sent = new Map<string, Array<{ type: string; data: Record<string, unknown> }>>();
  /** Client ids of every WebSocket connection, in order (a reconnect appears twice). */
  readonly connections: string[] = [];
  readonly uploads: Array<{ name: string; bytes: Buffer; type: string }> = [];
  models: Record<string, string[]>;
  vram: { total: number; free: number };
  /** /free requests as the worker applied them: the flags, and the prompt they waited for (none when it was idle). */
  readonly freed: Array<{ unload_models: boolean; free_memory: boolean; afterPrompt: string | undefined }> = [];
  /** WebSocket upgrades refused for missing or wrong credentials. */
  refusedUpgrades = 0;
  /** Paths whose requests are recorded and never answered (a hung server). */
  readonly stalled = new Set<string>();

  private readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Map<string, WebSocket>();
  /** Client ids whose dropped socket's close is handled only after their next connection. */
  private readonly closeNoticedLate = new Set<string>();
  private readonly lateCloses = new Map<string, () => void>();
  private readonly scripts: JobScript[] = [];
  private readonly pending: QueueItem[] = [];
  private running: QueueItem | undefined;
  private lastNode: string | undefined;
  private readonly history = new Map<string, HistoryEntry>();
  private readonly files = new Map<string, Buffer>();
  private readonly listeners = new Set<() => void>();
  private gate: { open: () => void } | undefined;
  private interruptRequested = false;
  private number = 0;
  private workerActive = false;
  /** Input signatures of the loaders the last prompt ran: their outputs are cached for the next one. */
  private loaderCache = new Set<string>();
  /** /free flags waiting for the worker to be idle (main.py applies them after the running prompt). */
  private freeFlags: { unload_models: boolean; free_memory: boolean } | undefined;

  private constructor(private readonly options: FakeComfyUiOptions) {
    this.models = structuredClone(options.models ?? WAN22_MODEL_FILES);
    this.vram = { ...(options.vram ?? { total: 24 * GIB, free: 20 * GIB }) };
    this.server = createServer((request, response) => void this.route(request, response));
    this.server.on('upgrade', (request, socket, head) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname !== '/ws') {
        socket.destroy();
        return;
      }
      if (!this.authorized(request)) {
        this.refusedUpgrades++;
        socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="comfyui"\r\nContent-Length: 0\r\n\r\n');
        this.changed();
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, url.searchParams.get('clientId') ?? ''));
    });
  }

  /** Starts a fake on 127.0.0.1 with a free port. */
  static async start(options: FakeComfyUiOptions = {}): Promise<FakeComfyUi> {
    const fake = new FakeComfyUi(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** Scripts the next prompts, in order; prompts beyond the scripts succeed. */
  script(...scripts: JobScript[]): void {
    this.scripts.push(...scripts);
  }

  /** Lets a held prompt carry on. */
  release(): void {
    this.gate?.open();
  }

  /**
   * Queues a prompt from another client (another ComfyUI user) that holds the worker until released, so prompts
   * submitted after it wait in the queue.
   */
  enqueueForeign(): string {
    const prompt: AcceptedPrompt = {
      promptId: randomUUID(),
      clientId: 'someone-else',
      workflow: { '1': { class_type: 'KSampler', inputs: { steps: 3 } } },
      number: this.number++,
    };
    this.pending.push({ prompt, script: { kind: 'hold' } });
    this.changed();
    this.startWorker();
    return prompt.promptId;
  }

  /** Requests to `path` (method and path match exactly, query ignored). */
  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  /** Message types sent to `clientId`, in order. */
  messageTypes(clientId: string): string[] {
    return (this.sent.get(clientId) ?? []).map((m) => m.type);
  }

  /** Whether `promptId` is waiting in the queue. */
  isPending(promptId: string): boolean {
    return this.pending.some((item) => item.prompt.promptId === promptId);
  }

  /** Whether a held prompt waits at its first sampling step. */
  get heldAtSampler(): boolean {
    return this.gate !== undefined;
  }

  /** Whether ComfyUI has finished `promptId` and recorded it in /history. */
  hasHistory(promptId: string): boolean {
    return this.history.has(promptId);
  }

  /** The prompt id running now. */
  get runningPromptId(): string | undefined {
    return this.running?.prompt.promptId;
  }

  /** Resolves once `condition` holds, checked after every request, message and connection; fails after `timeoutMs`. */
  waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.listeners.add(check);
    });
  }

  /** Closes every socket and the server, like a ComfyUI that went away. */
  async close(): Promise<void> {
    this.gate?.open();
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authorized(request: IncomingMessage): boolean {
    return Object.entries(this.options.requiredHeaders ?? {}).every(([name, value]) => request.headers[name.toLowerCase()] === value);
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private onConnection(ws: WebSocket, clientId: string): void {
    const sid = clientId || randomUUID().replaceAll('-', '');
    this.sockets.set(sid, ws);
    this.connections.push(sid);
    ws.on('close', () => {
      // server.py's `finally: self.sockets.pop(sid, None)`: whatever socket the sid holds by now, even a newer one.
      const pop = (): void => void this.sockets.delete(sid);
      if (this.closeNoticedLate.delete(sid)) this.lateCloses.set(sid, pop);
      else pop();
    });
    this.send(sid, 'status', { status: this.queueInfo(), sid });
    // As server.py: a reconnecting client whose prompt is running is told the current node (without prompt_id).
    if (this.running?.prompt.clientId === sid && this.lastNode !== undefined) this.send(sid, 'executing', { node: this.lastNode });
    const lateClose = this.lateCloses.get(sid);
    this.lateCloses.delete(sid);
    lateClose?.();
    this.changed();
  }

  private send(clientId: string | undefined, type: string, data: Record<string, unknown>): void {
    if (clientId === undefined) return;
    const list = this.sent.get(clientId) ?? [];
    list.push({ type, data });
    this.sent.set(clientId, list);
    const ws = this.sockets.get(clientId);
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type, data }));
    this.changed();
  }

  private broadcastStatus(): void {
    for (const sid of this.sockets.keys()) this.send(sid, 'status', { status: this.queueInfo() });
  }

  private queueInfo(): { exec_info: { queue_remaining: number } } {
    return { exec_info: { queue_remaining: this.pending.length + (this.running ? 1 : 0) } };
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const raw = await readBody(request);
    const contentType = request.headers['content-type'] ?? '';
    let body: unknown = raw.length > 0 && contentType.includes('json') ? JSON.parse(raw.toString('utf8')) : undefined;
    if (contentType.startsWith('multipart/form-data')) body = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    this.requests.push({ method: request.method ?? 'GET', path: url.pathname, body, headers: request.headers });
    if (this.stalled.has(url.pathname)) {
      this.changed();
      return;
    }
    if (!this.authorized(request)) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="comfyui"', 'content-type': 'text/plain' });
      response.end('401: Unauthorized');
      this.changed();
      return;
    }
    const json = (status: number, value: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    const ok = (): void => {
      response.writeHead(200);
      response.end();
    };
    try {
      const route = `${request.method} ${url.pathname}`;
      const models = /^\/models\/([^/]+)$/.exec(url.pathname);
      const history = /^\/history\/([^/]+)$/.exec(url.pathname);
      if (route === 'GET /system_stats') json(200, this.systemStats());
      else if (request.method === 'GET' && models) {
        const files = this.models[decodeURIComponent(models[1] ?? '')];
        if (files) json(200, files);
        else {
          response.writeHead(404);
          response.end();
        }
      } else if (route === 'POST /prompt') this.postPrompt(body as Record<string, unknown>, json);
      else if (route === 'GET /queue') {
        const item = (q: QueueItem): unknown[] => [q.prompt.number, q.prompt.promptId, q.prompt.workflow, { client_id: q.prompt.clientId }, []];
        json(200, { queue_running: this.running ? [item(this.running)] : [], queue_pending: this.pending.map(item) });
      } else if (route === 'POST /queue') {
        const ids = ((body as { delete?: string[] }).delete ?? []) as string[];
        for (const id of ids) {
          const index = this.pending.findIndex((q) => q.prompt.promptId === id);
          if (index >= 0) this.pending.splice(index, 1);
        }
        this.broadcastStatus();
        ok();
      } else if (route === 'POST /history') {
        const { clear, delete: ids } = (body ?? {}) as { clear?: boolean; delete?: string[] };
        if (clear) this.history.clear();
        for (const id of ids ?? []) this.history.delete(id);
        ok();
      } else if (route === 'POST /interrupt') {
        const targeted = isAtLeast(this.options.version ?? '0.3.60', '0.3.57');
        const promptId = targeted ? (body as { prompt_id?: string } | undefined)?.prompt_id : undefined;
        if (this.running && (!promptId || promptId === this.running.prompt.promptId)) {
          this.interruptRequested = true;
          this.gate?.open();
        }
        ok();
      } else if (route === 'POST /free') {
        // server.py: `json_data = await request.json()`: no JSON body, no answer but aiohttp's 500.
        const flags = JSON.parse(raw.toString('utf8') || 'null') as { unload_models?: boolean; free_memory?: boolean } | null;
        if (flags === null || typeof flags !== 'object') throw new Error('expected a JSON object');
        this.freeFlags = {
          unload_models: (this.freeFlags?.unload_models ?? false) || flags.unload_models === true,
          free_memory: (this.freeFlags?.free_memory ?? false) || flags.free_memory === true,
        };
        if (!this.workerActive) this.applyFreeFlags(undefined);
        ok();
      }
      else if (request.method === 'GET' && history) {
        const id = decodeURIComponent(history[1] ?? '');
        const entry = this.history.get(id);
        json(200, entry ? { [id]: entry } : {});
      } else if (route === 'GET /view') {
        const key = `${url.searchParams.get('subfolder') ?? ''}/${url.searchParams.get('filename') ?? ''}`;
        const file = url.searchParams.get('type') === 'output' ? this.files.get(key) : undefined;
        if (file) {
          response.writeHead(200, { 'content-type': 'video/mp4' });
          response.end(file);
        } else {
          response.writeHead(404);
          response.end();
        }
      } else if (route === 'POST /upload/image') await this.upload(body as FormData, json);
      else {
        response.writeHead(404);
        response.end();
      }
    } catch (error) {
      json(500, { error: String(error) });
    }
    this.changed();
  }

  private systemStats(): unknown {
    return {
      system: {
        os: 'posix',
        ram_total: 64 * GIB,
        ram_free: 48 * GIB,
        comfyui_version: this.options.version ?? '0.3.60',
        python_version: '3.12.3',
        pytorch_version: '2.8.0+cu128',
        embedded_python: false,
        argv: ['main.py'],
      },
      devices: [
        {
          name: 'cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync',
          type: 'cuda',
          index: 0,
          vram_total: this.vram.total,
          vram_free: this.vram.free,
          torch_vram_total: 2 * GIB,
          torch_vram_free: GIB,
        },
      ],
    };
  }

  private postPrompt(body: Record<string, unknown>, json: (status: number, value: unknown) => void): void {
    const workflow = body.prompt as AcceptedPrompt['workflow'] | undefined;
    if (!workflow || typeof workflow !== 'object') {
      json(400, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
      return;
    }
    const uploaded = this.uploads.map((u) => u.name);
    const nodes = objectInfo(this.models, uploaded);
    for (const name of this.options.withoutNodes ?? []) delete nodes[name];
    const validation = validatePrompt(workflow, nodes, (classType, input, value) =>
      classType === 'LoadImage' && input === 'image' && !uploaded.includes(String(value)) ? `Invalid image file: ${String(value)}` : true,
    );
    if (!validation.ok) {
      json(400, { error: validation.error, node_errors: validation.node_errors });
      return;
    }
    const promptId = typeof body.prompt_id === 'string' ? body.prompt_id : randomUUID();
    const prompt: AcceptedPrompt = { promptId, clientId: body.client_id as string | undefined, workflow, number: this.number++ };
    this.prompts.push(prompt);
    this.pending.push({ prompt, script: this.scripts.shift() ?? { kind: 'success' } });
    json(200, { prompt_id: promptId, number: prompt.number, node_errors: {} });
    this.broadcastStatus();
    this.startWorker();
  }

  private async upload(form: FormData, json: (status: number, value: unknown) => void): Promise<void> {
    const image = form.get('image');
    if (!(image instanceof Blob) || !('name' in image)) {
      json(400, { error: 'no image' });
      return;
    }
    const name = String((image as File).name);
    this.uploads.push({ name, bytes: Buffer.from(await image.arrayBuffer()), type: String(form.get('type') ?? 'input') });
    json(200, { name, subfolder: '', type: 'input' });
  }

  /** main.py's prompt_worker after a prompt (or at once when idle): `free_memory` resets the cache, both unload models. */
  private applyFreeFlags(afterPrompt: string | undefined): void {
    const flags = this.freeFlags;
    if (!flags) return;
    this.freeFlags = undefined;
    if (flags.free_memory) this.loaderCache.clear();
    this.freed.push({ ...flags, afterPrompt });
    this.changed();
  }

  private startWorker(): void {
    if (this.workerActive) return;
    this.workerActive = true;
    void (async () => {
      while (this.pending.length > 0) {
        const item = this.pending.shift() as QueueItem;
        this.running = item;
        this.interruptRequested = false;
        this.broadcastStatus();
        const entry = await this.execute(item);
        this.history.set(item.prompt.promptId, entry);
        this.running = undefined;
        this.lastNode = undefined;
        this.broadcastStatus();
        if (this.options.sendsExecutingNull ?? true) this.send(item.prompt.clientId, 'executing', { node: null, prompt_id: item.prompt.promptId });
        this.applyFreeFlags(item.prompt.promptId);
      }
      this.workerActive = false;
    })();
  }

  /** Runs one prompt, sending its messages; returns its history entry. */
  private async execute(item: QueueItem): Promise<HistoryEntry> {
    const { prompt, script } = item;
    const client = prompt.clientId;
    const id = prompt.promptId;
    const messages: Array<[string, unknown]> = [];
    const message = (type: string, data: Record<string, unknown>): void => {
      const stamped = ['execution_start', 'execution_cached', 'execution_success', 'execution_error', 'execution_interrupted'].includes(type)
        ? { ...data, timestamp: Date.now() }
        : data;
      if (type.startsWith('execution_')) messages.push([type, stamped]);
      if (type === 'execution_error' && script.kind === 'oom' && script.frameLost) return;
      this.send(client, type, stamped);
    };
    const entry = (status: string, outputs: HistoryEntry['outputs']): HistoryEntry => ({
      prompt: [prompt.number, id, prompt.workflow, { client_id: client }, []],
      outputs,
      status: { status_str: status, completed: status === 'success', messages },
      meta: {},
    });
    message('execution_start', { prompt_id: id });
    const order = executionOrder(prompt.workflow);
    const signatures = new Map(order.map((nodeId) => [nodeId, loaderSignature(prompt.workflow[nodeId])]));
    // execution.py lists cached nodes in prompt order (`for node_id in prompt`).
    const cached = Object.keys(prompt.workflow).filter((nodeId) => this.loaderCache.has(signatures.get(nodeId) ?? ''));
    // As CLASSIC caching: what this prompt does not use is dropped; its loaders are kept for the next prompt.
    this.loaderCache = new Set([...signatures.values()].filter((signature): signature is string => signature !== undefined));
    message('execution_cached', { nodes: cached, prompt_id: id });
    const outputs: HistoryEntry['outputs'] = {};
    const executed: string[] = [];
    const states: Record<string, unknown> = {};
    const progressState = (nodeId: string, value: number, max: number, state: string): void => {
      states[nodeId] = { value, max, state, node_id: nodeId, prompt_id: id, display_node_id: nodeId, parent_node_id: null, real_node_id: nodeId };
      this.send(client, 'progress_state', { prompt_id: id, nodes: structuredClone(states) });
    };
    let firstSampler = true;
    for (const nodeId of order) {
      const node = prompt.workflow[nodeId] as { class_type: string; inputs: Record<string, unknown> };
      if (cached.includes(nodeId)) {
        // execution.py: a cached node gets no `executing`, only `executed` with its cached UI output (none for loaders).
        message('executed', { node: nodeId, display_node: nodeId, output: null, prompt_id: id });
        executed.push(nodeId);
        continue;
      }
      this.lastNode = nodeId;
      message('executing', { node: nodeId, display_node: nodeId, prompt_id: id });
      progressState(nodeId, 0, 1, 'running');
      await tick();
      if (/Sampler(Advanced)?$/.test(node.class_type)) {
        const max = this.options.stepsPerSampler ?? 3;
        for (let value = 1; value <= max; value++) {
          if (firstSampler && value === 1 && script.kind === 'hold') {
            await new Promise<void>((open) => {
              this.gate = { open };
              this.changed();
            });
          }
          this.gate = undefined;
          if (this.interruptRequested) {
            message('execution_interrupted', { prompt_id: id, node_id: nodeId, node_type: node.class_type, executed });
            return entry('error', {});
          }
          if (firstSampler && value === 2 && script.kind === 'oom') {
            message('execution_error', {
              prompt_id: id,
              node_id: nodeId,
              node_type: node.class_type,
              executed,
              exception_message: `${CUDA_OOM_TEXT}\n${OOM_TIPS}`,
              exception_type: 'torch.OutOfMemoryError',
              traceback: [
                '  File "/ComfyUI/execution.py", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n',
                '  File "/ComfyUI/comfy/ldm/wan/model.py", line 231, in forward\n    x = x + y * e[2]\n',
              ],
              current_inputs: {},
              current_outputs: [],
            });
            return entry('error', {});
          }
          message('progress', { value, max, prompt_id: id, node: nodeId });
          progressState(nodeId, value, max, 'running');
          const ws = client === undefined ? undefined : this.sockets.get(client);
          // A binary preview frame (event 1, JPEG), as ComfyUI sends while sampling.
          if (value === 1) ws?.send(Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from('jpeg')]));
          if (firstSampler && value === 1 && script.kind === 'drop_socket') {
            if (script.closeNoticedLate && client !== undefined) this.closeNoticedLate.add(client);
            ws?.terminate();
            if (script.holdAfterDrop) {
              await new Promise<void>((open) => {
                this.gate = { open };
                this.changed();
              });
              this.gate = undefined;
            }
          }
          await tick();
        }
        firstSampler = false;
      }
      const extension = SAVE_NODES[node.class_type];
      if (extension) {
        const prefix = String(node.inputs.filename_prefix ?? 'ComfyUI');
        const slash = prefix.lastIndexOf('/');
        const subfolder = slash >= 0 ? prefix.slice(0, slash) : '';
        const filename = `${prefix.slice(slash + 1)}_${String(this.files.size + 1).padStart(5, '0')}_.${extension}`;
        this.files.set(`${subfolder}/${filename}`, FAKE_VIDEO_BYTES);
        const output = { images: [{ filename, subfolder, type: 'output' }], animated: [true] };
        outputs[nodeId] = output;
        message('executed', { node: nodeId, display_node: nodeId, output, prompt_id: id });
      }
      progressState(nodeId, 1, 1, 'finished');
      executed.push(nodeId);
    }
    message('execution_success', { prompt_id: id });
    return entry('success', outputs);
  }
}

/** The cache key of a loader node (class and inputs), or undefined for nodes the fake never caches. */
function loaderSignature(node: { class_type: string; inputs: Record<string, unknown> } | undefined): string | undefined {
  return node && CACHED_LOADERS.has(node.class_type) ? JSON.stringify([node.class_type, node.inputs]) : undefined;
}

/** Node ids in an order where every node comes after the nodes it links to. */
function executionOrder(workflow: AcceptedPrompt['workflow']): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string): void => {
    if (seen.has(id) || !workflow[id]) return;
    seen.add(id);
    for (const value of Object.values(workflow[id].inputs)) if (Array.isArray(value) && typeof value[0] === 'string') visit(value[0]);
    order.push(id);
  };
  for (const id of Object.keys(workflow)) visit(id);
  return order;
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
