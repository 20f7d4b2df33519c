/**
 * The Backend port: what the worker needs from anything that turns a request into a video (the simulated GPU, a
 * ComfyUI server, the preview renderer). A backend also implements the {@link RecoveryTarget} actions it supports,
 * so the recovery system can repair it.
 *
 * Failures of `generate` are real Error objects whose messages read like the real thing ("CUDA out of memory. Tried
 * to allocate 2.00 GiB", "pipeline process exited with code 137", "model file not found: ...") so the failure
 * classifier recognises them; {@link BackendError} adds a `code`, and an `exitCode`/`signal` when a process ended.
 * Cancellation always rejects with an {@link abortError} (name `AbortError`).
 */
import type { Event } from 'cockatiel';
import type { ModelStatus } from '../core/availability.js';
import type { GenerationSettings } from '../core/estimates.js';
import type { RecoveryTarget } from './recovery/recovery-target.js';

/** An input image, as a file the backend can read or as bytes. */
export type GenerationImage = { readonly path: string } | { readonly bytes: Uint8Array; readonly mediaType?: string };

/** Settings that shape one generation: resolution, quality, frames and steps (reference counts when omitted). */
export interface BackendSettings extends GenerationSettings {
  /** Random seed; the backend picks one when omitted. */
  seed?: number;
}

/** One job for a backend. */
export interface GenerationRequest {
  jobId: string;
  /** The job's attempt this generation runs (default 1); each attempt writes its own file (see outputFileName). */
  attempt?: number;
  modelId: string;
  prompt: string;
  negativePrompt?: string;
  image?: GenerationImage;
  settings: BackendSettings;
  /** Directory the output file is written to (created when missing). */
  outputDir: string;
}

/** How the caller follows and stops a generation. */
export interface GenerationControl {
  /** Aborting stops the job promptly; `generate` then rejects with an AbortError and writes nothing. */
  signal: AbortSignal;
  /** Called as work advances: `fraction` from 0 to 1, never decreasing, with a short message. */
  onProgress: (fraction: number, message: string) => void;
}

/** The file a finished generation produced. */
export interface GeneratedOutput {
  /** Path of the complete file (`outputDir` joined with its name); it never exists half-written. */
  path: string;
  /** MIME type, e.g. `image/gif` or `video/mp4`. */
  mediaType: string;
  sizeBytes: number;
  /** True when this is a labelled preview rather than a real generation. */
  isPreview: boolean;
  /** How long the generation took on the backend's clock, in milliseconds. */
  durationMs?: number;
  /** Of `durationMs`, how long loading the model (and making room for it) took, when the backend knows. */
  loadMs?: number;
}

/** GPU memory as the backend sees it, in GiB. */
export interface VramUsage {
  totalGb: number;
  usedGb: number;
}

/**
 * Why a model left GPU memory: `evicted` to make room for another, `requested` by unloadModels, `pipeline_exit` when
 * the process ended, `reconfigured` to be loaded again differently (another offload mode, a reload).
 */
export type ModelUnloadReason = 'evicted' | 'requested' | 'pipeline_exit' | 'reconfigured';

/** State of the process or pipeline that runs generations. */
export type PipelineState = 'running' | 'crashed' | 'restarting';

/** What a backend announces; `at` is epoch milliseconds on the backend's clock. */
export type BackendEvent =
  | { type: 'model_loaded'; backendId: string; modelId: string; loadMs: number; at: number }
  | { type: 'model_unloaded'; backendId: string; modelId: string; reason: ModelUnloadReason; at: number }
  | { type: 'vram_changed'; backendId: string; vram: VramUsage; at: number }
  | { type: 'pipeline_state'; backendId: string; state: PipelineState; detail: string; at: number };

/** Port: a place where generations run. */
export interface Backend extends RecoveryTarget {
  /** How many generations the backend runs at once; the scheduler starts no more than this. */
  readonly slots: number;
  /** Runs one generation and writes its output atomically under `request.outputDir`. */
  generate(request: GenerationRequest, control: GenerationControl): Promise<GeneratedOutput>;
  /** Ids of the models currently loaded in GPU memory. */
  loadedModels(): Promise<string[]>;
  /** GPU memory in use, or null for a backend without a GPU. */
  vram(): Promise<VramUsage | null>;
  /** Availability of every model the backend knows (available, downloading, missing, ...). */
  installedModels(): Promise<ModelStatus[]>;
  /** Model loads and unloads, VRAM changes and pipeline state changes, when the backend reports them. */
  readonly onEvent?: Event<BackendEvent>;
}

/** What went wrong, in a form the failure classifier reads: a message like the real one, a code, a process exit. */
export interface BackendErrorDetails {
  /** Short machine-readable code, e.g. `CUDA_OUT_OF_MEMORY` or `ENOENT`. */
  code: string;
  /** Exit code of a process that ended. */
  exitCode?: number;
  /** Signal that ended a process, e.g. `SIGKILL`. */
  signal?: string;
  cause?: unknown;
}

/** A failure reported by a backend. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly code: string;
  declare readonly exitCode?: number;
  declare readonly signal?: string;

  constructor(message: string, details: BackendErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    if (details.exitCode !== undefined) this.exitCode = details.exitCode;
    if (details.signal !== undefined) this.signal = details.signal;
  }
}

/** Type guard for {@link BackendError}. */
export function isBackendError(error: unknown): error is BackendError {
  return error instanceof BackendError;
}

/** The error a cancelled generation rejects with: name `AbortError`, code `ABORT_ERR`, the abort reason as cause. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const error = new Error('the generation was cancelled', { cause: reason });
  error.name = 'AbortError';
  return Object.assign(error, { code: 'ABORT_ERR' });
}

/** True when `error` is the rejection of a cancelled operation. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/**
 * A file name safe on every platform, derived from a job id and its attempt (`<id>.<ext>` for the first,
 * `<id>.attempt-<n>.<ext>` after it). Attempts never share a file: a worker that lost its lease without noticing
 * (frozen, then resumed) cannot write over the output of the worker that took the job over.
 */
export function outputFileName(jobId: string, extension: string, attempt = 1): string {
  const base = jobId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(0, 100) || 'output';
  return attempt > 1 ? `${base}.attempt-${attempt}.${extension}` : `${base}.${extension}`;
}

/** Settles with `promise`, or rejects with an AbortError as soon as `signal` aborts (the work itself goes on). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
