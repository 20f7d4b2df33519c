// Over 400 lines for one reason: the virtual GPU (VRAM, loads, slots, faults, pipeline life) is one state machine; its options are in simulated-backend-options.ts.
/**
 * A simulated GPU backend for demos, tests and benchmarks. It sizes and times jobs with the planner's own estimates
 * (estimateVramGb, catalogGenerationSeconds), so the simulation matches the profiles the planner reasons about, and
 * runs entirely on the injected Clock: no real timers, so a ManualClock replays hours in milliseconds.
 *
 * The virtual GPU:
 * - VRAM in use = the pipeline's CUDA context + fragmented cache + the weights of every loaded model + the working
 *   memory of every running job. A job needs estimateVramGb × offload factor × optimisation factor; its model's
 *   weights count towards that. When a job does not fit, idle models are unloaded first (least recently used
 *   first); the job fails with "CUDA out of memory" only when it would not fit even then.
 * - Loading a model takes sizeGb ÷ loadGbPerSecond; unloading takes unloadSeconds. Every duration is multiplied by
 *   timeScale.
 * - Offload modes trade speed for memory (model: VRAM ×0.6, time ×1.5; sequential: VRAM ×0.35, time ×3). Changing
 *   the mode unloads idle models, as a real pipeline must be set up again.
 * - Faults (scripted or random, see simulated-faults.ts) make jobs run out of memory, crash the pipeline, hang or
 *   fail to load. A crashed pipeline fails every job until restartPipeline, so recovery matters.
 * - Each job writes a real animated GIF showing the prompt, the model, the resolution and the frame number.
 */
import { EventEmitter } from 'cockatiel';
import { z } from 'zod';
import type { ModelStatus } from '../core/availability.js';
import type { ModelDescriptor } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import { GIB, catalogGenerationSeconds, estimateVramGb, formatBytes } from '../core/estimates.js';
import { OFFLOAD_MODES, type OffloadMode } from '../core/recovery-policy.js';
import { parseResolution } from '../core/requirements.js';
import { parseOrThrow } from '../core/validation.js';
import {
  BackendError,
  abortError,
  outputFileName,
  untilAborted,
  type Backend,
  type BackendEvent,
  type GeneratedOutput,
  type GenerationControl,
  type GenerationRequest,
  type ModelUnloadReason,
  type PipelineState,
  type VramUsage,
} from '../runtime/backend.js';
import { Semaphore, SerialLock } from './concurrency.js';
import { writeOutputAtomically } from './output-file.js';
import { sleep } from '../core/clock.js';
import type { TargetHealth } from '../runtime/recovery/recovery-target.js';
import type { SimulatedLink } from './simulated-link.js';
import { renderTextGif, wrapText } from './gif-writer.js';
import { FaultInjector, type FaultKind, type PlannedFault } from './simulated-faults.js';
import {
  DEFAULT_OFFLOAD_TRADES,
  SimulatedBackendOptionsSchema,
  type InjectedFaultEvent,
  type SimulatedBackendDependencies,
  type SimulatedBackendOptions,
  type SimulatedBackendOptionsInput,
  type SpeedMemoryTrade,
} from './simulated-backend-options.js';

export * from './simulated-backend-options.js';

interface LoadedModel {
  readonly modelId: string;
  readonly residentGb: number;
  /** Offload mode the weights were placed for; a different mode needs a reload. */
  readonly offloadMode: OffloadMode;
  activeJobs: number;
  lastUsedAt: number;
}

interface RunningJob {
  readonly model: LoadedModel;
  readonly workingGb: number;
  /** Pipeline generation the job runs in; a crash starts a new one and forgets older jobs. */
  readonly epoch: number;
  /** The caller's signal combined with the pipeline's: aborts on cancel and on a pipeline exit. */
  readonly signal: AbortSignal;
  /** Clock milliseconds the sampling steps take in all. */
  readonly sampleMs: number;
  /** Clock milliseconds spent making room and loading the model for it (0 when it was loaded). */
  readonly loadMs: number;
}

interface PipelineExit {
  exitCode: number;
  signal: string;
}

interface Download {
  startedAt: number;
  durationMs: number;
  done: Promise<void>;
}

/** The simulated GPU backend. */
export class SimulatedBackend implements Backend {
  readonly id: string;
  readonly slots: number;
  /** The fault script and probabilities; inject more faults here. */
  readonly faults: FaultInjector;

  private readonly options: SimulatedBackendOptions;
  private readonly clock: Clock;
  private readonly models: ReadonlyMap<string, ModelDescriptor>;
  private readonly installed: Set<string>;
  private readonly filesPresent: { has(modelId: string): boolean };
  private readonly link: SimulatedLink | undefined;
  private readonly downloads = new Map<string, Download>();
  private readonly loaded = new Map<string, LoadedModel>();
  private readonly running = new Set<RunningJob>();
  private readonly offloadTrades: Record<OffloadMode, SpeedMemoryTrade>;
  private currentOffloadMode: OffloadMode;
  private optimized: boolean;
  private fragmentationGb = 0;
  private state: PipelineState = 'running';
  private lastExit: PipelineExit | undefined;
  private epoch = 0;
  private pipelineLife = new AbortController();
  /** Generations at once: one permit per slot. */
  private readonly slotPermits: Semaphore;
  /** Model loads, unloads and pipeline changes never interleave. */
  private readonly gpu = new SerialLock();
  private lastReportedUsedGb: number;
  private readonly events = new EventEmitter<BackendEvent>();
  private readonly faultEvents = new EventEmitter<InjectedFaultEvent>();

  /** Model loads and unloads, VRAM changes and pipeline state changes. */
  readonly onEvent = this.events.addListener;
  /** Faults as they strike jobs. */
  readonly onFault = this.faultEvents.addListener;

  /** @throws ValidationError naming the bad option */
  constructor(options: SimulatedBackendOptionsInput, dependencies: SimulatedBackendDependencies) {
    this.options = parseOrThrow(SimulatedBackendOptionsSchema, options, 'simulated backend options');
    this.id = this.options.id;
    this.slots = this.options.slots;
    this.slotPermits = new Semaphore(this.slots);
    this.clock = dependencies.clock;
    this.models = new Map(this.options.models.map((m) => [m.id, m]));
    this.installed = new Set(this.options.installed ?? this.options.models.map((m) => m.id));
    this.filesPresent = dependencies.filesPresent ?? new Set<string>();
    this.link = dependencies.link;
    this.offloadTrades = { ...DEFAULT_OFFLOAD_TRADES, ...this.options.offloadTrades };
    this.currentOffloadMode = this.options.offloadMode;
    this.optimized = this.options.vramOptimized;
    this.faults = new FaultInjector(this.options.faultScript, this.options.faultProbabilities, dependencies.random ?? Math.random);
    this.lastReportedUsedGb = this.vramUsage().usedGb;
  }

  /** The offload mode new jobs use. */
  get offloadMode(): OffloadMode {
    return this.currentOffloadMode;
  }

  /** Whether VRAM optimisations are on. */
  get vramOptimized(): boolean {
    return this.optimized;
  }

  /** Whether the pipeline runs, has crashed or is restarting. */
  get pipelineState(): PipelineState {
    return this.state;
  }

  async generate(request: GenerationRequest, control: GenerationControl): Promise<GeneratedOutput> {
    const { signal, onProgress } = control;
    try {
      if (signal.aborted) throw abortError(signal);
      const model = this.installedModel(request.modelId);
      checkInputs(model, request);
      const releaseSlot = await this.slotPermits.acquire(signal);
      let loadMs = 0;
      const startedAt = this.clock.now();
      try {
        const fault = this.faults.next(model.id);
        if (fault) this.faultEvents.emit({ ...fault, backendId: this.id, jobId: request.jobId, modelId: model.id, at: startedAt });
        const job = await this.gpu.exclusively(() => this.startJob(model, request, fault, signal, onProgress));
        loadMs = job.loadMs;
        try {
          await this.sample(job, request, fault, onProgress);
        } finally {
          this.finishJob(job);
        }
      } finally {
        // The GPU work is over: writing the file must not hold the slot.
        releaseSlot();
      }
      const durationMs = this.clock.now() - startedAt;
      if (signal.aborted) throw abortError(signal);
      const gif = this.render(model, request);
      const path = await writeOutputAtomically(request.outputDir, outputFileName(request.jobId, 'gif', request.attempt), gif);
      return { path, mediaType: 'image/gif', sizeBytes: gif.length, isPreview: false, durationMs, loadMs };
    } catch (error) {
      throw signal.aborted ? abortError(signal) : error;
    }
  }

  async loadedModels(): Promise<string[]> {
    return [...this.loaded.keys()];
  }

  async vram(): Promise<VramUsage> {
    return this.vramUsage();
  }

  async installedModels(): Promise<ModelStatus[]> {
    const now = this.clock.now();
    return [...this.models.values()].map((model): ModelStatus => {
      const bytesTotal = model.sizeGb * GIB;
      if (this.isInstalled(model.id)) return { modelId: model.id, status: 'available', bytesPresent: bytesTotal, bytesTotal, updatedAt: now };
      const download = this.downloads.get(model.id);
      if (!download) return { modelId: model.id, status: 'missing', bytesPresent: 0, bytesTotal, updatedAt: now };
      const shared = this.link?.progress(model.id);
      const done = shared ? shared.bytesDone / Math.max(1, shared.bytesTotal) : download.durationMs === 0 ? 1 : Math.min(1, (now - download.startedAt) / download.durationMs);
      return {
        modelId: model.id,
        status: 'downloading',
        bytesPresent: Math.floor(bytesTotal * Math.min(1, done)),
        bytesTotal,
        downloadBytesPerSecond: shared?.bytesPerSecond ?? this.options.downloadBytesPerSecond / this.options.timeScale,
        updatedAt: now,
      };
    });
  }

  /** Releases fragmented cache. Rejects when the pipeline is not running (there is no process to ask). */
  freeGpuMemory(signal: AbortSignal): Promise<void> {
    return this.gpu.exclusively(async () => {
      this.requireRunningPipeline('cannot free GPU memory');
      await this.wait(this.scaledMs(this.options.freeMemorySeconds), signal);
      this.fragmentationGb = 0;
      this.reportVram();
    });
  }

  /** Unloads every model no job is using. Rejects when the pipeline is not running. */
  unloadModels(signal: AbortSignal): Promise<void> {
    return this.gpu.exclusively(async () => {
      this.requireRunningPipeline('cannot unload models');
      for (const entry of [...this.loaded.values()]) {
        if (entry.activeJobs === 0) await this.unload(entry, 'requested', signal);
      }
    });
  }

  /**
   * Restarts the pipeline process: a running pipeline is stopped first (its jobs fail with exit code 143), then the
   * restart takes restartSeconds. Clears a crash. When aborted midway, the pipeline stays down.
   */
  restartPipeline(signal: AbortSignal): Promise<void> {
    return this.gpu.exclusively(async () => {
      if (this.state === 'running') this.terminatePipeline({ exitCode: 143, signal: 'SIGTERM' });
      this.setState('restarting', 'restarting the pipeline process');
      try {
        await this.wait(this.scaledMs(this.options.restartSeconds), signal);
      } catch (error) {
        this.setState('crashed', `restart abandoned: ${describeExit(this.lastExit)}`);
        throw error;
      }
      this.pipelineLife = new AbortController();
      this.lastExit = undefined;
      this.setState('running', 'pipeline process started');
      this.reportVram();
    });
  }

  /** Switches the offload mode for new jobs; idle models are unloaded to be placed again. Same mode: no change. */
  async setOffloadMode(mode: OffloadMode, signal: AbortSignal): Promise<void> {
    const wanted = parseOrThrow(z.enum(OFFLOAD_MODES), mode, 'offload mode');
    return this.gpu.exclusively(async () => {
      if (wanted === this.currentOffloadMode) return;
      this.currentOffloadMode = wanted;
      for (const entry of [...this.loaded.values()]) {
        if (entry.activeJobs === 0) await this.unload(entry, 'reconfigured', signal);
      }
    });
  }

  /** Turns on tiled VAE decoding and attention slicing. Rejects when they are already on: nothing more to apply. */
  async applyVramOptimization(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw abortError(signal);
    if (this.optimized) throw new Error('VRAM optimizations (tiled VAE decoding, attention slicing) are already on; nothing more to apply');
    this.optimized = true;
  }

  /**
   * Makes the model's files present, downloading them at downloadBytesPerSecond when missing. A download, once
   * started, runs to the end; an aborted caller only stops waiting for it.
   */
  async ensureModelDownloaded(modelId: string, signal: AbortSignal): Promise<void> {
    const model = this.models.get(modelId);
    if (!model) throw new BackendError(`no download source for model "${modelId}": it is not in the catalog of ${this.id}`, { code: 'UNKNOWN_MODEL' });
    if (this.isInstalled(modelId)) return;
    let download = this.downloads.get(modelId);
    if (!download) {
      const durationMs = this.scaledMs((model.sizeGb * GIB) / this.options.downloadBytesPerSecond);
      const transfer = this.link ? this.link.transfer(model.id, model.sizeGb * GIB) : this.wait(durationMs);
      const done = transfer.then(() => {
        this.installed.add(modelId);
        this.downloads.delete(modelId);
      });
      download = { startedAt: this.clock.now(), durationMs, done };
      this.downloads.set(modelId, download);
    }
    await untilAborted(download.done, signal);
  }

  private isInstalled(modelId: string): boolean {
    return this.installed.has(modelId) || this.filesPresent.has(modelId);
  }

  /** Healthy while the pipeline runs; otherwise says why not. */
  async checkHealth(signal: AbortSignal): Promise<TargetHealth> {
    if (signal.aborted) throw abortError(signal);
    if (this.state === 'running') return { healthy: true };
    if (this.state === 'restarting') return { healthy: false, reason: 'the pipeline is restarting' };
    return { healthy: false, reason: `${describeExit(this.lastExit)} and has not been restarted` };
  }

  private installedModel(modelId: string): ModelDescriptor {
    const model = this.models.get(modelId);
    if (model && this.isInstalled(modelId)) return model;
    const file = model?.files[0]?.path ?? `diffusion_models/${modelId}.safetensors`;
    const why = model ? 'the model is not installed' : `${this.id} does not know this model`;
    throw new BackendError(`model file not found: models/${file} (${why})`, { code: 'ENOENT' });
  }

  /** Makes room, loads the model when needed and books the job's VRAM. Runs exclusively. */
  private async startJob(
    model: ModelDescriptor,
    request: GenerationRequest,
    fault: PlannedFault | undefined,
    callerSignal: AbortSignal,
    onProgress: GenerationControl['onProgress'],
  ): Promise<RunningJob> {
    this.requireRunningPipeline('cannot run the job');
    const signal = AbortSignal.any([callerSignal, this.pipelineLife.signal]);
    if (signal.aborted) throw signal.reason;
    const trade = this.jobTrade();
    const needGb = estimateVramGb(model, request.settings, this.options.estimation) * trade.vramFactor;
    let entry = this.loaded.get(model.id);
    const stale = entry !== undefined && (fault?.kind === 'load_failure' || entry.offloadMode !== this.currentOffloadMode);
    // A busy model is never reloaded under its jobs, so a load_failure aimed at it does not strike.
    if (entry && stale && entry.activeJobs === 0) {
      await this.unload(entry, 'reconfigured', signal);
      entry = undefined;
    }
    const residentGb = entry?.residentGb ?? model.baseVramGb * this.options.residentShare * this.offloadTrades[this.currentOffloadMode].vramFactor;
    const workingGb = Math.max(0, needGb - residentGb);
    const loadStarted = this.clock.now();
    await this.makeRoom((entry ? 0 : residentGb) + workingGb, model.id, signal);
    entry ??= await this.load(model, residentGb, fault?.kind === 'load_failure', signal, onProgress);
    entry.activeJobs++;
    entry.lastUsedAt = this.clock.now();
    const seconds = catalogGenerationSeconds(model, request.settings, this.options.estimation) * trade.timeFactor;
    const job: RunningJob = { model: entry, workingGb, epoch: this.epoch, signal, sampleMs: this.scaledMs(seconds), loadMs: this.clock.now() - loadStarted };
    this.running.add(job);
    this.reportVram();
    return job;
  }

  /** Runs the sampling steps, reporting progress after each, and lets a planned fault strike on its step. */
  private async sample(job: RunningJob, request: GenerationRequest, fault: PlannedFault | undefined, onProgress: GenerationControl['onProgress']): Promise<void> {
    const steps = request.settings.steps ?? this.options.estimation.referenceSteps;
    const strikeStep = fault && fault.kind !== 'load_failure' ? Math.max(1, Math.ceil(fault.atFraction * steps)) : undefined;
    for (let step = 1; step <= steps; step++) {
      if (step === strikeStep && fault) await this.strike(fault.kind, job);
      await this.wait(job.sampleMs / steps, job.signal);
      onProgress(step / steps, `sampling step ${step}/${steps}`);
    }
  }

  private async strike(kind: FaultKind, job: RunningJob): Promise<void> {
    switch (kind) {
      case 'oom': {
        const freeGb = Math.max(0, this.options.vramGb - this.usedGb());
        throw this.outOfMemory(freeGb + Math.max(0.25, job.workingGb * 0.25), freeGb);
      }
      case 'crash':
        throw this.terminatePipeline({ exitCode: 137, signal: 'SIGKILL' });
      case 'hang':
        await untilAborted(new Promise<never>(() => undefined), job.signal);
        return;
      case 'load_failure':
        return; // strikes at load time, not while sampling
    }
  }

  private finishJob(job: RunningJob): void {
    if (job.epoch !== this.epoch) return;
    this.running.delete(job);
    job.model.activeJobs--;
    job.model.lastUsedAt = this.clock.now();
    this.fragmentationGb += job.workingGb * this.options.fragmentationShare;
    this.reportVram();
  }

  /** Unloads idle models, least recently used first, until `extraGb` fits; out of memory when it never would. */
  private async makeRoom(extraGb: number, keepModelId: string, signal: AbortSignal): Promise<void> {
    const freeGb = (): number => this.options.vramGb - this.usedGb();
    if (extraGb <= freeGb()) return;
    const idle = [...this.loaded.values()]
      .filter((entry) => entry.modelId !== keepModelId && entry.activeJobs === 0)
      .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    const reclaimable = idle.reduce((sum, entry) => sum + entry.residentGb, 0);
    if (extraGb > freeGb() + reclaimable) throw this.outOfMemory(extraGb, freeGb());
    for (const entry of idle) {
      if (extraGb <= freeGb()) return;
      await this.unload(entry, 'evicted', signal);
    }
  }

  private async load(
    model: ModelDescriptor,
    residentGb: number,
    fails: boolean,
    signal: AbortSignal,
    onProgress: GenerationControl['onProgress'],
  ): Promise<LoadedModel> {
    onProgress(0, `loading ${model.id} (${formatBytes(model.sizeGb * GIB)})`);
    const loadMs = this.scaledMs(model.sizeGb / this.options.loadGbPerSecond);
    await this.wait(loadMs, signal);
    if (fails) {
      throw new BackendError(
        `failed to load model ${model.id}: SafetensorError: Error while deserializing header: MetadataIncompleteBuffer`,
        { code: 'MODEL_LOAD_FAILED' },
      );
    }
    const entry: LoadedModel = { modelId: model.id, residentGb, offloadMode: this.currentOffloadMode, activeJobs: 0, lastUsedAt: this.clock.now() };
    this.loaded.set(model.id, entry);
    this.events.emit({ type: 'model_loaded', backendId: this.id, modelId: model.id, loadMs, at: this.clock.now() });
    this.reportVram();
    return entry;
  }

  private async unload(entry: LoadedModel, reason: ModelUnloadReason, signal: AbortSignal): Promise<void> {
    await this.wait(this.scaledMs(this.options.unloadSeconds), signal);
    if (this.loaded.get(entry.modelId) !== entry) return; // a pipeline exit released it meanwhile
    this.forget(entry, reason);
    this.reportVram();
  }

  private forget(entry: LoadedModel, reason: ModelUnloadReason): void {
    this.loaded.delete(entry.modelId);
    this.events.emit({ type: 'model_unloaded', backendId: this.id, modelId: entry.modelId, reason, at: this.clock.now() });
  }

  /** Ends the pipeline process: every running job fails with the returned error, and all GPU memory is released. */
  private terminatePipeline(exit: PipelineExit): BackendError {
    this.lastExit = exit;
    this.epoch++;
    this.running.clear();
    for (const entry of [...this.loaded.values()]) this.forget(entry, 'pipeline_exit');
    this.fragmentationGb = 0;
    this.setState('crashed', describeExit(exit));
    const error = pipelineExitError(exit, describeExit(exit));
    this.pipelineLife.abort(error);
    this.reportVram();
    return error;
  }

  private requireRunningPipeline(what: string): void {
    if (this.state === 'running') return;
    const detail = this.state === 'restarting' ? 'a restart is in progress' : 'it has not been restarted';
    throw pipelineExitError(this.lastExit, `${what}: ${describeExit(this.lastExit)} and ${detail}`);
  }

  private setState(state: PipelineState, detail: string): void {
    this.state = state;
    this.events.emit({ type: 'pipeline_state', backendId: this.id, state, detail, at: this.clock.now() });
  }

  private outOfMemory(triedGb: number, freeGb: number): BackendError {
    const total = this.options.vramGb;
    return new BackendError(
      `CUDA out of memory. Tried to allocate ${triedGb.toFixed(2)} GiB. GPU 0 has a total capacity of ${total.toFixed(2)} GiB ` +
        `of which ${freeGb.toFixed(2)} GiB is free. Including non-PyTorch memory, this process has ${(total - freeGb).toFixed(2)} GiB memory in use.`,
      { code: 'CUDA_OUT_OF_MEMORY' },
    );
  }

  /** The VRAM and time factors a job started now gets. */
  private jobTrade(): SpeedMemoryTrade {
    const offload = this.offloadTrades[this.currentOffloadMode];
    const optimization = this.optimized ? this.options.vramOptimization : { vramFactor: 1, timeFactor: 1 };
    return { vramFactor: offload.vramFactor * optimization.vramFactor, timeFactor: offload.timeFactor * optimization.timeFactor };
  }

  private usedGb(): number {
    if (this.state !== 'running') return 0;
    let used = this.options.contextVramGb + this.fragmentationGb;
    for (const entry of this.loaded.values()) used += entry.residentGb;
    for (const job of this.running) used += job.workingGb;
    return used;
  }

  private vramUsage(): VramUsage {
    return { totalGb: this.options.vramGb, usedGb: Math.round(this.usedGb() * 1000) / 1000 };
  }

  private reportVram(): void {
    const vram = this.vramUsage();
    if (vram.usedGb === this.lastReportedUsedGb) return;
    this.lastReportedUsedGb = vram.usedGb;
    this.events.emit({ type: 'vram_changed', backendId: this.id, vram, at: this.clock.now() });
  }

  private render(model: ModelDescriptor, request: GenerationRequest): Uint8Array {
    const { width: outputWidth, maxFrames, frameDelayMs } = this.options.output;
    const { resolution, quality } = request.settings;
    const size = parseResolution(resolution);
    const height = Math.max(16, Math.min(4 * outputWidth, Math.round((outputWidth * size.height) / size.width)));
    const requestedFrames = request.settings.numFrames ?? this.options.estimation.referenceFrames;
    const count = Math.min(requestedFrames, maxFrames);
    const prompt = wrapText(request.prompt || '(no prompt)', outputWidth, 2);
    const frames = Array.from({ length: count }, (_, i) => {
      const frame = count === 1 ? 1 : Math.round((i * (requestedFrames - 1)) / (count - 1)) + 1;
      return [...prompt, model.id, `${resolution} ${quality}`, `frame ${frame}/${requestedFrames}`];
    });
    return renderTextGif({ width: outputWidth, height, frames, frameDelayMs, progressBar: true });
  }

  private scaledMs(seconds: number): number {
    return seconds * 1000 * this.options.timeScale;
  }

  /** Waits `ms` on the clock; returns at once for no time, so a ManualClock never has to be advanced for nothing. */
  private async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    if (ms > 0) await sleep(this.clock, ms, signal);
  }
}

function checkInputs(model: ModelDescriptor, request: GenerationRequest): void {
  if (model.inputs.image === 'required' && !request.image) {
    throw new BackendError(`ValueError: ${model.id} needs an input image`, { code: 'INVALID_INPUT' });
  }
  if (model.inputs.text === 'required' && request.prompt.trim() === '') {
    throw new BackendError(`ValueError: ${model.id} needs a text prompt`, { code: 'INVALID_INPUT' });
  }
}

function describeExit(exit: PipelineExit | undefined): string {
  return exit ? `pipeline process exited with code ${exit.exitCode} (${exit.signal})` : 'pipeline process is not running';
}

function pipelineExitError(exit: PipelineExit | undefined, message: string): BackendError {
  return new BackendError(message, { code: 'PIPELINE_EXITED', ...(exit && { exitCode: exit.exitCode, signal: exit.signal }) });
}

