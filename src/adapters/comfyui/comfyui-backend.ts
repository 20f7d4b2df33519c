// Over 400 lines for one reason: it maps each method of the Backend port onto ComfyUI's routes; setup, launching, media and availability live in their own files.
/**
 * A ComfyUI server as an Understudy backend: generations run as API-format workflows rendered from a template per
 * catalog model, followed over ComfyUI's WebSocket; model availability comes from GET /models/{folder}, GPU memory
 * and health from GET /system_stats; recovery actions use POST /free and, when Understudy launches ComfyUI itself
 * (the `launch` config), real restarts of the process with the flags an offload mode or VRAM optimisation needs.
 *
 * Several ComfyUI servers (one per GPU or machine) are several ComfyUiBackend objects, each with its own id, slots,
 * health and circuit breaker. The API followed is ComfyUI's server.py / execution.py of v0.3.x (see docs/comfyui.md).
 */
import { extname } from 'node:path';
import { EventEmitter } from 'cockatiel';
import { z } from 'zod';
import type { ModelStatus } from '../../core/availability.js';
import type { ModelDescriptor } from '../../core/catalog.js';
import type { Clock } from '../../core/clock.js';
import { GIB } from '../../core/estimates.js';
import { classifyFailure } from '../../core/failure-classification.js';
import { OFFLOAD_MODES, type OffloadMode } from '../../core/recovery-policy.js';
import { parseResolution } from '../../core/requirements.js';
import { parseOrThrow } from '../../core/validation.js';
import {
  BackendError,
  abortError,
  outputFileName,
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
import { prepareBackend, type BackendSetup, type ComfyUiBackendDependencies } from './backend-setup.js';
import { ComfyUiClient, type SystemStats, type SystemStatsDevice } from './comfyui-client.js';
import { DEFAULT_OFFLOAD_ARGS, type ComfyUiConfig, type ComfyUiConfigInput } from './comfyui-config.js';
import { ComfyUiExecutionError, ComfyUiVersionError } from './comfyui-errors.js';
import { TARGETED_INTERRUPT_VERSION, isAtLeast, versionProblem } from './comfyui-version.js';
import { HistoryCleanup } from './history-cleanup.js';
import { modelStatus, requiredFiles, type FolderListings } from './model-availability.js';
import { ComfyUiLauncher } from './comfyui-launcher.js';
import type { ManagedProcess } from './managed-process.js';
import { imageUpload, mediaTypeOf, pickOutput } from './output-media.js';
import { runPrompt } from './prompt-run.js';
import { renderWorkflow, templateSize, type WorkflowTemplate } from './workflow-template.js';

export type { ComfyUiBackendDependencies } from './backend-setup.js';

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

  private readonly config: ComfyUiConfig;
  private readonly templates: ReadonlyMap<string, WorkflowTemplate>;
  private readonly folders: Readonly<Record<string, string>>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly models: ReadonlyMap<string, ModelDescriptor>;
  private readonly offloadArgs: Readonly<Record<OffloadMode, readonly string[]>>;
  private readonly loaded = new Set<string>();
  /** Starts and relaunches ComfyUI, when Understudy launches it (config `launch`). */
  private readonly launcher: ComfyUiLauncher | undefined;
  private lastVram: VramUsage | undefined;
  private readonly historyCleanup: HistoryCleanup;
  /** `comfyui_version` from the last GET /system_stats. */
  private serverVersion: string | undefined;

  /**
   * Reads the config and loads the templates of the models this server runs.
   * @throws ValidationError naming the bad config field or template file (with the node and placeholder)
   */
  static async create(config: ComfyUiConfigInput, dependencies: ComfyUiBackendDependencies): Promise<ComfyUiBackend> {
    return new ComfyUiBackend(await prepareBackend(config, dependencies), dependencies);
  }

  private constructor(setup: BackendSetup, dependencies: ComfyUiBackendDependencies) {
    const { config } = setup;
    this.config = config;
    this.templates = setup.templates;
    this.folders = setup.folders;
    this.models = setup.models;
    this.id = config.id;
    this.slots = config.slots;
    this.clock = dependencies.clock;
    this.random = dependencies.random ?? Math.random;
    const { timeouts } = config;
    this.client = new ComfyUiClient({ endpoint: setup.endpoint, clock: this.clock, requestTimeoutMs: timeouts.requestMs, connectTimeoutMs: timeouts.connectMs });
    this.offloadArgs = { ...DEFAULT_OFFLOAD_ARGS, ...config.launch?.offloadArgs };
    this.launcher =
      config.launch &&
      new ComfyUiLauncher({
        launch: config.launch,
        timeouts,
        offloadArgs: this.offloadArgs,
        clock: this.clock,
        serverLabel: this.client.label,
        isReady: async (signal) => {
          await this.systemStats(signal);
          return true;
        },
        onState: (state, detail) => this.events.emit({ type: 'pipeline_state', backendId: this.id, state, detail, at: this.clock.now() }),
        onExit: (exit) => this.forgetLoaded(exit.requested ? 'reconfigured' : 'pipeline_exit'),
      });
    this.process = this.launcher?.process;
    this.historyCleanup = new HistoryCleanup(this.client, this.clock, config.cleanup.historyRetentionMs);
  }

  /** Ids of the models this server runs (those with a template). */
  get servedModels(): string[] {
    return [...this.templates.keys()];
  }

  /** The offload mode of the running ComfyUI, as far as Understudy set it (`none` until it relaunches it). */
  get offloadMode(): OffloadMode {
    return this.launcher?.offloadMode ?? 'none';
  }

  /** Whether the VRAM optimisation flags are on. */
  get vramOptimized(): boolean {
    return this.launcher?.vramOptimized ?? false;
  }

  /**
   * Launches a managed ComfyUI and waits until it answers, then checks its version; for a ComfyUI run by someone
   * else, only checks the version when it answers (one that is down is reported by health checks, not here).
   * @throws ComfyUiVersionError when the server is older than 0.3.46 (no Wan2.2 nodes)
   */
  async start(signal: AbortSignal = new AbortController().signal): Promise<void> {
    if (this.launcher) return this.launcher.start(signal, () => this.requireSupportedVersion());
    const stats = await this.systemStats(signal).catch(() => undefined);
    if (stats) this.requireSupportedVersion();
  }

  /** Stops a managed ComfyUI (prompts running on it fail); nothing to do for a ComfyUI run by someone else. */
  async stop(): Promise<void> {
    await this.historyCleanup.flush();
    await this.launcher?.stop();
  }

  async generate(request: GenerationRequest, control: GenerationControl): Promise<GeneratedOutput> {
    const { signal, onProgress } = control;
    try {
      if (signal.aborted) throw abortError(signal);
      const template = this.templateFor(request.modelId);
      this.checkInputs(request);
      if (this.process && !this.process.running) {
        onProgress(0, 'waiting for the ComfyUI process to be started');
        await this.launcher?.idle(signal);
      }
      this.launcher?.requireRunning();
      this.requireSupportedVersion();
      const jobSignal = this.launcher ? AbortSignal.any([signal, this.launcher.lifeSignal]) : signal;
      const startedAt = this.clock.now();
      const requested = { ...parseResolution(request.settings.resolution), frames: request.settings.numFrames ?? template.defaults.frames ?? this.config.referenceFrames };
      const size = templateSize(template, requested);
      if (size.width !== requested.width || size.height !== requested.height || size.frames !== requested.frames) {
        onProgress(
          0,
          `ComfyUI makes ${size.width}x${size.height}, ${size.frames} frames of the ${requested.width}x${requested.height}, ${requested.frames} frames asked for ` +
            `(the template's nodes take sizes in multiples of ${template.sizeMultiple} and ${template.frameMultiple}k+1 frames)`,
        );
      }
      const image = request.image ? await this.uploadImage(request.image, request.jobId, jobSignal) : undefined;
      const workflow = renderWorkflow(template, {
        prompt: request.prompt,
        ...(request.negativePrompt !== undefined && { negative_prompt: request.negativePrompt }),
        ...(image !== undefined && { image }),
        ...size,
        steps: request.settings.steps ?? template.defaults.steps ?? this.config.referenceSteps,
        seed: request.settings.seed ?? Math.floor(this.random() * Number.MAX_SAFE_INTEGER),
      });
      const { timeouts, reconnect } = this.config;
      const result = await runPrompt({
        client: this.client,
        clock: this.clock,
        workflow,
        queueTimeoutMs: timeouts.queueMs,
        executionTimeoutMs: timeouts.executionMs,
        statusCheckMs: timeouts.statusCheckMs,
        reconnect,
        targetedInterrupt: isAtLeast(this.serverVersion, TARGETED_INTERRUPT_VERSION),
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
      const path = await writeOutputAtomically(request.outputDir, outputFileName(request.jobId, extension, request.attempt), viewed.bytes);
      await this.historyCleanup.finished(result.promptId);
      onProgress(1, `saved ${file.subfolder ? `${file.subfolder}/` : ''}${file.filename} from ComfyUI`);
      return { path, mediaType, sizeBytes: viewed.bytes.length, isPreview: false, durationMs: this.clock.now() - startedAt };
    } catch (error) {
      // After an out-of-memory error ComfyUI unloads every model itself (execution.py "unloading all loaded models").
      if (error instanceof ComfyUiExecutionError && classifyFailure(error).failureType === 'vram_exhaustion') this.forgetLoaded('evicted');
      if (error instanceof ComfyUiExecutionError && error.prompt_id !== undefined) await this.historyCleanup.finished(error.prompt_id);
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
      device = gpuDevices((await this.systemStats(this.requestSignal())).devices)[0];
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
    const stats = await this.systemStats(this.requestSignal());
    return gpuDevices(stats.devices).map((device) => ({ device: `${this.id}: ${device.name}`, totalBytes: device.vram_total, freeBytes: device.vram_free }));
  }

  /**
   * Availability of each served model: `available` when every file it needs is listed by GET /models/{folder} (the
   * files its template's loader nodes load, plus the catalog's files), `missing` naming the absent files, `unknown`
   * when ComfyUI cannot be asked.
   */
  async installedModels(): Promise<ModelStatus[]> {
    const required = new Map([...this.templates.keys()].map((id) => [id, requiredFiles(this.templates.get(id), this.models.get(id), this.folders)]));
    const folders = [...new Set([...required.values()].flatMap((files) => files.flatMap((file) => file.folders)))];
    const now = this.clock.now();
    const exit = this.process && !this.process.running ? this.process.lastExit : undefined;
    if (this.process && exit) {
      const detail = `${this.process.describeExit(exit)}; its model files cannot be listed until it is restarted`;
      return [...required.keys()].map((modelId) => ({ modelId, status: 'unknown', detail, updatedAt: now }));
    }
    let listings: FolderListings;
    try {
      const signal = this.requestSignal();
      const lists = await Promise.all(folders.map((folder) => this.client.listModels(folder, signal)));
      listings = new Map(folders.map((folder, index) => [folder, lists[index] ?? null]));
    } catch (error) {
      const detail = `${this.client.label} could not list its model files: ${(error as Error).message}`;
      return [...required.keys()].map((modelId) => ({ modelId, status: 'unknown', detail, updatedAt: now }));
    }
    return [...required].map(([modelId, files]) => modelStatus(modelId, this.models.get(modelId), files, listings, now));
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
    if (!this.launcher) return this.free({ unloadModels: true, freeMemory: true }, signal, 'restart the pipeline');
    return this.launcher.restart(signal, () => this.client.free({ unloadModels: true, freeMemory: true }, signal));
  }

  /**
   * enable_cpu_offload: relaunches a managed ComfyUI with the mode's flags (`lowvram` → `--lowvram`, `novram` →
   * `--novram`, see launch.offloadArgs). ComfyUI cannot change this while it runs, so without `launch` it fails.
   */
  async setOffloadMode(mode: OffloadMode, signal: AbortSignal): Promise<void> {
    const wanted = parseOrThrow(z.enum(OFFLOAD_MODES), mode, 'offload mode');
    const flags = this.offloadArgs[wanted];
    if (!this.launcher) {
      throw new BackendError(
        `${this.id} cannot switch ComfyUI to ${wanted} offload: ComfyUI chooses its VRAM mode at launch (${flags.join(' ') || 'no flags'}) and ` +
          `${this.client.label} is not launched by Understudy (no "launch" in its config); restart it with those flags yourself or configure "launch"`,
        { code: 'NOT_MANAGED' },
      );
    }
    return this.launcher.setOffloadMode(wanted, signal);
  }

  /** apply_vram_optimization: relaunches a managed ComfyUI with launch.vramOptimizationArgs, when they are configured. */
  async applyVramOptimization(signal: AbortSignal): Promise<void> {
    const flags = this.config.launch?.vramOptimizationArgs ?? [];
    if (!this.launcher) {
      throw new BackendError(
        `${this.id} cannot apply VRAM optimisations: ComfyUI takes them as launch flags and ${this.client.label} is not launched by Understudy (no "launch" in its config)`,
        { code: 'NOT_MANAGED' },
      );
    }
    if (flags.length === 0) {
      throw new BackendError(`${this.id} has no VRAM optimisation flags configured (launch.vramOptimizationArgs, e.g. ["--reserve-vram", "2"])`, { code: 'NOT_CONFIGURED' });
    }
    return this.launcher.applyVramOptimization(signal, this.id);
  }

  /** Healthy when ComfyUI answers GET /system_stats with a GPU device (and, when managed, its process runs). */
  async checkHealth(signal: AbortSignal): Promise<TargetHealth> {
    const down = this.launcher?.whyNotRunning();
    if (down) return { healthy: false, reason: down };
    try {
      const stats = await this.systemStats(signal);
      const tooOld = versionProblem(this.client.label, stats.system.comfyui_version);
      if (tooOld) return { healthy: false, reason: tooOld };
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



  /** Uploads the input image through POST /upload/image under a name of its own; resolves with the name LoadImage takes. */
  private async uploadImage(image: GenerationImage, jobId: string, signal: AbortSignal): Promise<string> {
    const upload = await imageUpload(image, jobId);
    return this.client.uploadImage(upload.bytes, upload.name, upload.mediaType, signal);
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











  private noteLoaded(modelId: string, loadMs: number): void {
    if (this.loaded.has(modelId)) return;
    this.loaded.add(modelId);
    this.events.emit({ type: 'model_loaded', backendId: this.id, modelId, loadMs, at: this.clock.now() });
  }

  private forgetLoaded(reason: ModelUnloadReason): void {
    for (const modelId of this.loaded) this.events.emit({ type: 'model_unloaded', backendId: this.id, modelId, reason, at: this.clock.now() });
    this.loaded.clear();
  }



  /** GET /system_stats, keeping the version it reports. */
  private async systemStats(signal: AbortSignal): Promise<SystemStats> {
    const stats = await this.client.systemStats(signal);
    this.serverVersion = stats.system.comfyui_version;
    return stats;
  }

  /** Refuses a server known to be older than 0.3.46 (no Wan2.2 nodes). */
  private requireSupportedVersion(): void {
    const problem = versionProblem(this.client.label, this.serverVersion);
    if (problem) throw new ComfyUiVersionError(problem, this.serverVersion ?? '');
  }

  /** A signal for requests nobody cancels (each still has the client's time limit). */
  private requestSignal(): AbortSignal {
    return new AbortController().signal;
  }



}

/** Torch devices with their own memory (CUDA, ROCm, XPU, …): not the CPU, not Apple's shared memory. */
function gpuDevices(devices: readonly SystemStatsDevice[]): SystemStatsDevice[] {
  return devices.filter((device) => device.type !== 'cpu' && device.type !== 'mps' && device.vram_total > 0);
}


function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
