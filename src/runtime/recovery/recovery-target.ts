import type { OffloadMode } from '../../core/recovery-policy.js';

export type { OffloadMode } from '../../core/recovery-policy.js';

/** What a backend says about itself when asked. */
export interface TargetHealth {
  readonly healthy: boolean;
  /** Why it is not healthy, in plain words. */
  readonly reason?: string;
}

/**
 * The port a backend implements so the recovery system can repair it. Every method is optional: an action whose
 * method is missing counts as a failed attempt with the reason "not supported by <id>". Methods resolve when done and
 * reject with the reason when they could not; they should stop early when `signal` aborts (the action timed out).
 *
 * How recovery actions use it:
 * - clear_gpu_cache: `unloadModels` then `freeGpuMemory` (whichever exist; unsupported when neither does)
 * - apply_vram_optimization: `applyVramOptimization`
 * - enable_cpu_offload: `setOffloadMode(policy.cpuOffloadMode)`
 * - restart_pipeline: `restartPipeline`
 * - retry_model_download: `ensureModelDownloaded(modelId)`, retried with backoff
 * - system_health_check: the host health check, plus `checkHealth` when present
 */
export interface RecoveryTarget {
  /** Names the backend in attempts, events and "not supported by" reasons. */
  readonly id: string;
  /** Releases cached GPU memory (e.g. torch.cuda.empty_cache, ComfyUI POST /free {free_memory}). */
  freeGpuMemory?(signal: AbortSignal): Promise<void>;
  /** Unloads loaded models from GPU memory (e.g. ComfyUI POST /free {unload_models}). */
  unloadModels?(signal: AbortSignal): Promise<void>;
  /** Restarts the generation pipeline or the backend process. */
  restartPipeline?(signal: AbortSignal): Promise<void>;
  /** Moves model weights between GPU and CPU memory according to `mode`. */
  setOffloadMode?(mode: OffloadMode, signal: AbortSignal): Promise<void>;
  /** Makes sure the model's files are present and verified, downloading them if needed. */
  ensureModelDownloaded?(modelId: string, signal: AbortSignal): Promise<void>;
  /** Turns on memory savers such as tiled VAE decoding, attention slicing or fp8 weights. */
  applyVramOptimization?(signal: AbortSignal): Promise<void>;
  /** Reports whether the backend works. */
  checkHealth?(signal: AbortSignal): Promise<TargetHealth>;
}
