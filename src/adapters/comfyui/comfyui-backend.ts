/**
 * A ComfyUI server as an Understudy backend: generations run as API-format workflows rendered from a template per
 * catalog model, followed over ComfyUI's WebSocket; model availability comes from GET /models/{folder}, GPU memory
 * and health from GET /system_stats; recovery actions use POST /free and, when Understudy launches ComfyUI itself
 * (the `launch` config), real restarts of the process with the flags an offload mode or VRAM optimisation needs.
 *
 * Several ComfyUI servers (one per GPU or machine) are several ComfyUiBackend objects, each with its own id, slots,
 * health and circuit breaker. The API followed is ComfyUI's server.py / execution.py of v0.3.x (see docs/comfyui.md).
 */
import { randomUUID } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { EventEmitter } from 'cockatiel';
import { z } from 'zod';
import type { ModelStatus } from '../../core/availability.js';
import { DEFAULT_MODELS, type ModelDescriptor } from '../../core/catalog.js';
import type { Clock } from '../../core/clock.js';
import { GIB } from '../../core/estimates.js';
import { OFFLOAD_MODES, type OffloadMode } from '../../core/recovery-policy.js';
import { parseResolution } from '../../core/requirements.js';
import { ValidationError, parseOrThrow, type ValidationIssue } from '../../core/validation.js';
import {
  BackendError,
  abortError,
  outputFileName,
  untilAborted,
  type Backend,
  type BackendEvent,
  type GeneratedOutput,
  type GenerationImage,
  type GenerationControl,
  type GenerationRequest,
  type ModelUnloadReason,
  type VramUsage,
} from '../../runtime/backend.js';
import { writeOutputAtomically } from '../output-file.js';
import type { ReportedVram, VramReporter } from '../../runtime/recovery/health-monitor.js';
import type { TargetHealth } from '../../runtime/recovery/recovery-target.js';
import { ComfyUiClient, type SystemStatsDevice } from './comfyui-client.js';
import { DEFAULT_MODEL_FOLDERS, DEFAULT_OFFLOAD_ARGS, parseComfyUiConfig, type ComfyUiConfig, type ComfyUiConfigInput } from './comfyui-config.js';
import type { OutputFile } from './comfyui-messages.js';
import { ManagedProcess, type ProcessExit } from './managed-process.js';
import { runPrompt } from './prompt-run.js';
import { loadWorkflowTemplate, renderWorkflow, type WorkflowTemplate } from './workflow-template.js';

/** Output extensions in order of preference (a video over a still), with their media types. */
const OUTPUT_MEDIA_TYPES: ReadonlyArray<readonly [string, string]> = [
  ['mp4', 'video/mp4'],
  ['webm', 'video/webm'],
  ['mkv', 'video/x-matroska'],
  ['mov', 'video/quicktime'],
  ['webp', 'image/webp'],
  ['gif', 'image/gif'],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
];

const IMAGE_EXTENSIONS: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'image/bmp': 'bmp' };

/** A model file to look for in ComfyUI: a folder of GET /models/{folder} and a name in it. */
interface RequiredFile {
  readonly folder: string;
  readonly name: string;
  /** Size from the catalog, when it lists the file. */
  readonly sizeBytes?: number;
}

/** What a ComfyUI backend needs besides its config. */
export interface ComfyUiBackendDependencies {
  /** Time limits, reconnection waits and event times run on this clock. */
  readonly clock: Clock;
  /** The catalog's models (default the three Wan2.2 models). */
  readonly models?: readonly ModelDescriptor[];
  /** Source of [0, 1) numbers for seeds of requests without one (default Math.random). */
  readonly random?: () => number;
}

/** One ComfyUI server. Create it with {@link ComfyUiBackend.create}; call {@link start} before use and {@link stop} at the end. */
export class ComfyUiBackend implements Backend, VramReporter {
  readonly id: string;
  readonly slots: number;
  /** The HTTP and WebSocket client of this server. */
  readonly client: ComfyUiClient;
  /** The ComfyUI process, when Understudy launches it (config `launch`). */
  readonly process: ManagedProcess | undefined;

  private readonly events = new EventEmitter<BackendEvent>();
  /** Model loads and unloads, VRAM changes and process state changes. */
  readonly onEvent = this.events.addListener;

  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly models: ReadonlyMap<string, ModelDescriptor>;
  private readonly offloadArgs: Readonly<Record<OffloadMode, readonly string[]>>;
  private readonly loaded = new Set<string>();
  private currentOffloadMode: OffloadMode = 'none';
  private optimized = false;
  /** Aborted when the managed process exits: prompts running then fail with why. */
  private pipelineLife = new AbortController();
  private lastVram: VramUsage | undefined;
  private processQueue: Promise<void> = Promise.resolve();

  /**
   * Reads the config and loads the templates of the models this server runs.
   * @throws ValidationError naming the bad config field or template file (with the node and placeholder)
   */
  static async create(config: ComfyUiConfigInput, dependencies: ComfyUiBackendDependencies): Promise<ComfyUiBackend> {
    const parsed = parseComfyUiConfig(config);
    const catalog = dependencies.models ?? DEFAULT_MODELS;
    const byId = new Map(catalog.map((model) => [model.id, model]));
    const issues: ValidationIssue[] = [];
    const known = `one of ${[...byId.keys()].join(', ')}`;
    parsed.models?.forEach((id, index) => {
      if (!byId.has(id)) issues.push({ field: `models[${index}]`, problem: `expected a catalog model id, ${known}`, received: id });
    });
    for (const id of Object.keys(parsed.templates)) {
      if (!byId.has(id)) issues.push({ field: `templates.${id}`, problem: `expected a catalog model id as key, ${known}`, received: id });
    }
    if (issues.length > 0) throw new ValidationError('ComfyUI backend config', issues);

    const templates = new Map<string, WorkflowTemplate>();
    for (const model of catalog) {
      const wanted = parsed.models?.includes(model.id) ?? true;
      if (!wanted) continue;
      const file = join(parsed.templatesDir, parsed.templates[model.id] ?? `${model.id}.json`);
      const explicit = parsed.models !== undefined || parsed.templates[model.id] !== undefined;
      if (!explicit && !(await exists(file))) continue;
      templates.set(model.id, await loadWorkflowTemplate(file, model));
    }
    if (templates.size === 0) {
      throw new ValidationError('ComfyUI backend config', [
        { field: 'templatesDir', problem: `expected a workflow template <model id>.json for at least one of ${[...byId.keys()].join(', ')}`, received: parsed.templatesDir },
      ]);
    }
    const folders = { ...DEFAULT_MODEL_FOLDERS, ...parsed.modelFolders };
    for (const model of catalog.filter((m) => templates.has(m.id))) {
      model.files.forEach((file, index) => {
        const first = file.path.split('/')[0] ?? '';
        if (!file.path.includes('/') || folders[first] === undefined) {
          issues.push({
            field: 'modelFolders',
            problem: `expected a ComfyUI folder for catalog file ${model.id} files[${index}] "${file.path}" (its first folder "${first}" is not in modelFolders: ${Object.keys(folders).join(', ')})`,
          });
        }
      });
    }
    if (issues.length > 0) throw new ValidationError('ComfyUI backend config', issues);
    return new ComfyUiBackend(parsed, byId, templates, folders, dependencies);
  }

  private constructor(
    private readonly config: ComfyUiConfig,
    models: ReadonlyMap<string, ModelDescriptor>,
    private readonly templates: ReadonlyMap<string, WorkflowTemplate>,
    private readonly folders: Readonly<Record<string, string>>,
    dependencies: ComfyUiBackendDependencies,
  ) {
    this.id = config.id;
    this.slots = config.slots;
    this.clock = dependencies.clock;
    this.random = dependencies.random ?? Math.random;
    this.models = models;
    const { timeouts } = config;
    this.client = new ComfyUiClient({ baseUrl: config.url, clock: this.clock, requestTimeoutMs: timeouts.requestMs, connectTimeoutMs: timeouts.connectMs });
    this.offloadArgs = { ...DEFAULT_OFFLOAD_ARGS, ...config.launch?.offloadArgs };
    this.process = config.launch && this.createProcess(config.launch);
  }

  /** Ids of the models this server runs (those with a template). */
  get servedModels(): string[] {
    return [...this.templates.keys()];
  }

  /** The offload mode of the running ComfyUI, as far as Understudy set it (`none` until it relaunches it). */
  get offloadMode(): OffloadMode {
    return this.currentOffloadMode;
  }

  /** Whether the VRAM optimisation flags are on. */
  get vramOptimized(): boolean {
    return this.optimized;
  }

  /** Launches a managed ComfyUI and waits until it answers; nothing to do for a ComfyUI run by someone else. */
  start(signal: AbortSignal = new AbortController().signal): Promise<void> {
    const managed = this.process;
    if (!managed) return Promise.resolve();
    return this.exclusively(async () => {
      if (managed.running) return;
      await this.launch(managed, signal, 'started by Understudy');
    });
  }

  /** Stops a managed ComfyUI (prompts running on it fail); nothing to do for a ComfyUI run by someone else. */
  stop(): Promise<void> {
    const managed = this.process;
    if (!managed) return Promise.resolve();
    return this.exclusively(() => managed.stop());
  }

  async generate(request: GenerationRequest, control: GenerationControl): Promise<GeneratedOutput> {
    const { signal, onProgress } = control;
    try {
      if (signal.aborted) throw abortError(signal);
      const template = this.templateFor(request.modelId);
      this.checkInputs(request);
      if (this.process && !this.process.running) {
        onProgress(0, 'waiting for the ComfyUI process to be started');
        await untilAborted(this.processQueue, signal);
      }
      this.requireRunningProcess();
      const jobSignal = AbortSignal.any([signal, this.pipelineLife.signal]);
      const startedAt = this.clock.now();
      const { width, height } = parseResolution(request.settings.resolution);
      const image = request.image ? await this.uploadImage(request.image, request.jobId, jobSignal) : undefined;
      const workflow = renderWorkflow(template, {
        prompt: request.prompt,
        ...(request.negativePrompt !== undefined && { negative_prompt: request.negativePrompt }),
        ...(image !== undefined && { image }),
        width,
        height,
        frames: request.settings.numFrames ?? this.config.referenceFrames,
        steps: request.settings.steps ?? this.config.referenceSteps,
        seed: request.settings.seed ?? Math.floor(this.random() * Number.MAX_SAFE_INTEGER),
      });
      const { timeouts, reconnect } = this.config;
      const result = await runPrompt({
        client: this.client,
        clock: this.clock,
        workflow,
        queueTimeoutMs: timeouts.queueMs,
        executionTimeoutMs: timeouts.executionMs,
        reconnect,
        signal: jobSignal,
        onProgress,
        onSamplingStarted: (loadMs) => this.noteLoaded(request.modelId, loadMs),
      });
      const file = pickOutput(result.files);
      if (!file) {
        throw new BackendError(
          `${this.client.label} finished prompt ${result.promptId} for ${request.modelId} but saved no file; the template ${template.file} needs a save node (SaveVideo, SaveWEBM, SaveAnimatedWEBP)`,
          { code: 'NO_OUTPUT' },
        );
      }
      const viewed = await this.client.view(file, jobSignal);
      const extension = extname(file.filename).slice(1).toLowerCase() || 'bin';
      const mediaType = mediaTypeOf(extension) ?? viewed.contentType ?? 'application/octet-stream';
      if (signal.aborted) throw abortError(signal);
      const path = await writeOutputAtomically(request.outputDir, outputFileName(request.jobId, extension), viewed.bytes);
      onProgress(1, `saved ${file.subfolder ? `${file.subfolder}/` : ''}${file.filename} from ComfyUI`);
      return { path, mediaType, sizeBytes: viewed.bytes.length, isPreview: false, durationMs: this.clock.now() - startedAt };
    } catch (error) {
      throw signal.aborted ? abortError(signal) : error;
    }
  }

  /**
   * Models whose prompts sampled on this server since it last unloaded, freed memory or restarted. ComfyUI has no
   * route listing loaded models, so this is what Understudy saw, not what ComfyUI reports.
   */
  async loadedModels(): Promise<string[]> {
    return [...this.loaded];
  }

  /** GPU memory of ComfyUI's torch device from GET /system_stats; null when it runs on the CPU or cannot be reached. */
  async vram(): Promise<VramUsage | null> {
    let device: SystemStatsDevice | undefined;
    try {
      device = gpuDevices((await this.client.systemStats(this.requestSignal())).devices)[0];
    } catch {
      return null;
    }
    if (!device) return null;
    const vram = { totalGb: round3(device.vram_total / GIB), usedGb: round3((device.vram_total - device.vram_free) / GIB) };
    if (!this.lastVram || this.lastVram.usedGb !== vram.usedGb || this.lastVram.totalGb !== vram.totalGb) {
      this.lastVram = vram;
      this.events.emit({ type: 'vram_changed', backendId: this.id, vram, at: this.clock.now() });
    }
    return vram;
  }

  /** The GPU devices of GET /system_stats for the health monitor; throws when ComfyUI cannot be reached. */
  async readVram(): Promise<readonly ReportedVram[] | null> {
    const stats = await this.client.systemStats(this.requestSignal());
    return gpuDevices(stats.devices).map((device) => ({ device: `${this.id}: ${device.name}`, totalBytes: device.vram_total, freeBytes: device.vram_free }));
  }

  /**
   * Availability of each served model: `available` when every file it needs is listed by GET /models/{folder} (the
   * files its template's loader nodes load, plus the catalog's files), `missing` naming the absent files, `unknown`
   * when ComfyUI cannot be asked.
   */
  async installedModels(): Promise<ModelStatus[]> {
    const required = new Map([...this.templates.keys()].map((id) => [id, this.requiredFiles(id)]));
    const folders = [...new Set([...required.values()].flat().map((file) => file.folder))];
    const now = this.clock.now();
    const exit = this.process && !this.process.running ? this.process.lastExit : undefined;
    if (this.process && exit) {
      const detail = `${this.process.describeExit(exit)}; its model files cannot be listed until it is restarted`;
      return [...required.keys()].map((modelId) => ({ modelId, status: 'unknown', detail, updatedAt: now }));
    }
    let listings: Map<string, ReadonlySet<string> | null>;
    try {
      const signal = this.requestSignal();
      const lists = await Promise.all(folders.map((folder) => this.client.listModels(folder, signal)));
      listings = new Map(folders.map((folder, index) => [folder, lists[index] ? new Set(lists[index]) : null]));
    } catch (error) {
      const detail = `${this.client.label} could not list its model files: ${(error as Error).message}`;
      return [...required.keys()].map((modelId) => ({ modelId, status: 'unknown', detail, updatedAt: now }));
    }
    return [...required].map(([modelId, files]): ModelStatus => {
      const model = this.models.get(modelId);
      const catalogBytes = model?.files.reduce((sum, file) => sum + file.sizeBytes, 0) ?? 0;
      const bytesTotal = catalogBytes > 0 ? catalogBytes : Math.round((model?.sizeGb ?? 0) * GIB);
      const absent = files.filter((file) => !listings.get(file.folder)?.has(file.name));
      if (absent.length === 0) return { modelId, status: 'available', bytesPresent: bytesTotal, bytesTotal, updatedAt: now };
      const presentBytes = files.filter((file) => !absent.includes(file)).reduce((sum, file) => sum + (file.sizeBytes ?? 0), 0);
      const named = absent.map((file) => (listings.get(file.folder) === null ? `${file.folder}/${file.name} (this ComfyUI has no "${file.folder}" folder)` : `${file.folder}/${file.name}`));
      return { modelId, status: 'missing', bytesPresent: presentBytes, bytesTotal, detail: `not in ComfyUI's model folders: ${named.join(', ')}`, updatedAt: now };
    });
  }

  /** clear_gpu_cache: POST /free {free_memory: true} (ComfyUI also unloads models and drops its cache, after any running prompt). */
  async freeGpuMemory(signal: AbortSignal): Promise<void> {
    await this.free({ freeMemory: true }, signal, 'free GPU memory');
  }

  /** POST /free {unload_models: true}: ComfyUI unloads every model after any running prompt. */
  async unloadModels(signal: AbortSignal): Promise<void> {
    await this.free({ unloadModels: true }, signal, 'unload models');
  }

  /**
   * restart_pipeline: POST /free {unload_models, free_memory} (models unloaded, execution cache dropped), and when
   * Understudy launches ComfyUI, a real restart of the process (prompts running on it fail). Without `launch`,
   * the /free is all that can be done, and a ComfyUI that does not answer cannot be restarted.
   */
  restartPipeline(signal: AbortSignal): Promise<void> {
    const managed = this.process;
    if (!managed) return this.free({ unloadModels: true, freeMemory: true }, signal, 'restart the pipeline');
    return this.exclusively(async () => {
      if (managed.running) await this.client.free({ unloadModels: true, freeMemory: true }, signal).catch(() => undefined);
      await this.relaunch(managed, signal, 'restart_pipeline');
    });
  }

  /**
   * enable_cpu_offload: relaunches a managed ComfyUI with the mode's flags (`lowvram` → `--lowvram`, `novram` →
   * `--novram`, see launch.offloadArgs). ComfyUI cannot change this while it runs, so without `launch` it fails.
   */
  async setOffloadMode(mode: OffloadMode, signal: AbortSignal): Promise<void> {
    const wanted = parseOrThrow(z.enum(OFFLOAD_MODES), mode, 'offload mode');
    const flags = this.offloadArgs[wanted];
    const managed = this.process;
    if (!managed) {
      throw new BackendError(
        `${this.id} cannot switch ComfyUI to ${wanted} offload: ComfyUI chooses its VRAM mode at launch (${flags.join(' ') || 'no flags'}) and ` +
          `${this.config.url} is not launched by Understudy (no "launch" in its config); restart it with those flags yourself or configure "launch"`,
        { code: 'NOT_MANAGED' },
      );
    }
    return this.exclusively(async () => {
      if (wanted === this.currentOffloadMode && managed.running) return;
      const previous = this.currentOffloadMode;
      this.currentOffloadMode = wanted;
      try {
        await this.relaunch(managed, signal, `offload mode ${wanted}`);
      } catch (error) {
        this.currentOffloadMode = previous;
        throw error;
      }
    });
  }

  /** apply_vram_optimization: relaunches a managed ComfyUI with launch.vramOptimizationArgs, when they are configured. */
  async applyVramOptimization(signal: AbortSignal): Promise<void> {
    const managed = this.process;
    const flags = this.config.launch?.vramOptimizationArgs ?? [];
    if (!managed) {
      throw new BackendError(
        `${this.id} cannot apply VRAM optimisations: ComfyUI takes them as launch flags and ${this.config.url} is not launched by Understudy (no "launch" in its config)`,
        { code: 'NOT_MANAGED' },
      );
    }
    if (flags.length === 0) {
      throw new BackendError(`${this.id} has no VRAM optimisation flags configured (launch.vramOptimizationArgs, e.g. ["--reserve-vram", "2"])`, { code: 'NOT_CONFIGURED' });
    }
    return this.exclusively(async () => {
      if (this.optimized) throw new BackendError(`${this.id} already runs ComfyUI with ${flags.join(' ')}; nothing more to apply`, { code: 'ALREADY_APPLIED' });
      this.optimized = true;
      try {
        await this.relaunch(managed, signal, 'VRAM optimisation');
      } catch (error) {
        this.optimized = false;
        throw error;
      }
    });
  }

  /** Healthy when ComfyUI answers GET /system_stats with a GPU device (and, when managed, its process runs). */
  async checkHealth(signal: AbortSignal): Promise<TargetHealth> {
    const managed = this.process;
    if (managed && !managed.running) {
      const exit = managed.lastExit;
      return { healthy: false, reason: exit ? `${managed.describeExit(exit)} and has not been restarted` : `${this.client.label} has not been started` };
    }
    try {
      const stats = await this.client.systemStats(signal);
      if (gpuDevices(stats.devices).length === 0) return { healthy: false, reason: `${this.client.label} runs without a GPU (no CUDA device in /system_stats)` };
      return { healthy: true };
    } catch (error) {
      return { healthy: false, reason: (error as Error).message };
    }
  }

  private templateFor(modelId: string): WorkflowTemplate {
    const template = this.templates.get(modelId);
    if (template) return template;
    throw new BackendError(`${this.id} has no ComfyUI workflow template for model "${modelId}" (it runs ${this.servedModels.join(', ')})`, { code: 'UNKNOWN_MODEL' });
  }

  private checkInputs(request: GenerationRequest): void {
    const model = this.models.get(request.modelId);
    if (!model) return;
    if (model.inputs.image === 'required' && !request.image) throw new BackendError(`ValueError: ${model.id} needs an input image`, { code: 'INVALID_INPUT' });
    if (model.inputs.image === 'unsupported' && request.image) throw new BackendError(`ValueError: ${model.id} takes no input image`, { code: 'INVALID_INPUT' });
    if (model.inputs.text === 'required' && request.prompt.trim() === '') throw new BackendError(`ValueError: ${model.id} needs a text prompt`, { code: 'INVALID_INPUT' });
  }

  private requireRunningProcess(): void {
    const managed = this.process;
    if (!managed || managed.running) return;
    const exit = managed.lastExit;
    if (!exit) throw new BackendError(`${this.client.label} has not been started (call start())`, { code: 'NOT_STARTED' });
    throw new BackendError(`${managed.describeExit(exit)} and has not been restarted`, {
      code: 'PIPELINE_EXITED',
      ...(exit.code !== null && { exitCode: exit.code }),
      ...(exit.signal !== null && { signal: exit.signal }),
    });
  }

  /** Uploads the input image through POST /upload/image under a name of its own; resolves with the name LoadImage takes. */
  private async uploadImage(image: GenerationImage, jobId: string, signal: AbortSignal): Promise<string> {
    const bytes = 'path' in image ? new Uint8Array(await readFile(image.path)) : image.bytes;
    const fromPath = 'path' in image ? extname(image.path).slice(1).toLowerCase() : '';
    const mediaType = ('mediaType' in image && image.mediaType) || mediaTypeOf(fromPath) || 'image/png';
    const extension = IMAGE_EXTENSIONS[mediaType] ?? (fromPath || 'png');
    const name = outputFileName(`understudy-${jobId}-${randomUUID().slice(0, 8)}`, extension);
    return this.client.uploadImage(bytes, name, mediaType, signal);
  }

  /** The files a model needs: its template's loader files and the catalog's files (mapped through modelFolders). */
  private requiredFiles(modelId: string): RequiredFile[] {
    const files = new Map<string, RequiredFile>();
    for (const file of this.templates.get(modelId)?.modelFiles ?? []) files.set(`${file.folder}/${file.name}`, { folder: file.folder, name: file.name });
    for (const file of this.models.get(modelId)?.files ?? []) {
      const [first = '', ...rest] = file.path.split('/');
      const folder = this.folders[first] ?? first;
      const name = rest.join('/');
      files.set(`${folder}/${name}`, { folder, name, sizeBytes: file.sizeBytes });
    }
    return [...files.values()];
  }

  private async free(request: { unloadModels?: boolean; freeMemory?: boolean }, signal: AbortSignal, what: string): Promise<void> {
    try {
      await this.client.free(request, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      const managed = this.process ? '' : ' (Understudy does not launch it, so it cannot restart it either)';
      throw new BackendError(`${this.id} cannot ${what}: ${(error as Error).message}${managed}`, {
        code: error instanceof BackendError ? error.code : 'ECONNRESET',
        cause: error,
      });
    }
    this.forgetLoaded('requested');
  }

  private createProcess(launch: NonNullable<ComfyUiConfig['launch']>): ManagedProcess {
    const { timeouts } = this.config;
    const managed = new ManagedProcess({
      label: `ComfyUI process (${[launch.command, ...launch.args].join(' ')})`,
      command: launch.command,
      args: launch.args,
      ...(launch.cwd !== undefined && { cwd: launch.cwd }),
      env: launch.env,
      clock: this.clock,
      startupMs: timeouts.startupMs,
      stopMs: timeouts.stopMs,
      pollMs: timeouts.pollMs,
      isReady: async (signal) => {
        await this.client.systemStats(signal);
        return true;
      },
    });
    managed.onEvent((event) => {
      if (event.type === 'exited') this.onProcessExit(managed, event.exit);
    });
    return managed;
  }

  private onProcessExit(managed: ManagedProcess, exit: ProcessExit): void {
    this.forgetLoaded(exit.requested ? 'reconfigured' : 'pipeline_exit');
    const reason = exit.requested
      ? new BackendError(`${this.client.label} was stopped by Understudy while the prompt ran`, { code: 'PIPELINE_STOPPED' })
      : new BackendError(managed.describeExit(exit), {
          code: 'PIPELINE_EXITED',
          ...(exit.code !== null && { exitCode: exit.code }),
          ...(exit.signal !== null && { signal: exit.signal }),
        });
    this.pipelineLife.abort(reason);
    if (!exit.requested) this.emitState('crashed', managed.describeExit(exit));
  }

  private async relaunch(managed: ManagedProcess, signal: AbortSignal, why: string): Promise<void> {
    this.emitState('restarting', `restarting ComfyUI (${why})`);
    await managed.stop();
    await this.launch(managed, signal, `restarted by Understudy (${why})`);
  }

  private async launch(managed: ManagedProcess, signal: AbortSignal, detail: string): Promise<void> {
    this.pipelineLife = new AbortController();
    try {
      await managed.start(this.launchFlags(), signal);
    } catch (error) {
      this.emitState('crashed', (error as Error).message);
      throw error;
    }
    const flags = managed.extraArgs.join(' ');
    this.emitState('running', `${detail}${flags ? ` with ${flags}` : ''}`);
  }

  private launchFlags(): string[] {
    return [...this.offloadArgs[this.currentOffloadMode], ...(this.optimized ? (this.config.launch?.vramOptimizationArgs ?? []) : [])];
  }

  private noteLoaded(modelId: string, loadMs: number): void {
    if (this.loaded.has(modelId)) return;
    this.loaded.add(modelId);
    this.events.emit({ type: 'model_loaded', backendId: this.id, modelId, loadMs, at: this.clock.now() });
  }

  private forgetLoaded(reason: ModelUnloadReason): void {
    for (const modelId of this.loaded) this.events.emit({ type: 'model_unloaded', backendId: this.id, modelId, reason, at: this.clock.now() });
    this.loaded.clear();
  }

  private emitState(state: 'running' | 'crashed' | 'restarting', detail: string): void {
    this.events.emit({ type: 'pipeline_state', backendId: this.id, state, detail, at: this.clock.now() });
  }

  /** A signal for requests nobody cancels (each still has the client's time limit). */
  private requestSignal(): AbortSignal {
    return new AbortController().signal;
  }

  /** Runs process operations one at a time: a restart never overlaps a relaunch. */
  private exclusively<T>(task: () => Promise<T>): Promise<T> {
    const result = this.processQueue.then(task);
    this.processQueue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** The file to keep among a prompt's saved files: the first video, else the first animation or image. */
function pickOutput(files: readonly OutputFile[]): OutputFile | undefined {
  for (const [extension] of OUTPUT_MEDIA_TYPES) {
    const file = files.find((f) => extname(f.filename).slice(1).toLowerCase() === extension && f.type === 'output');
    if (file) return file;
  }
  return files.find((f) => f.type === 'output') ?? files[0];
}

function mediaTypeOf(extension: string): string | undefined {
  return OUTPUT_MEDIA_TYPES.find(([known]) => known === extension)?.[1];
}

/** Torch devices with their own memory (CUDA, ROCm, XPU, …): not the CPU, not Apple's shared memory. */
function gpuDevices(devices: readonly SystemStatsDevice[]): SystemStatsDevice[] {
  return devices.filter((device) => device.type !== 'cpu' && device.type !== 'mps' && device.vram_total > 0);
}


function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
