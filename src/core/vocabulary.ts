/**
 * The shared vocabulary of Understudy: the string values of the intelligent fallback manager and the
 * fallback and recovery system, kept exactly as DESIGN.md lists them.
 */

/** Kinds of plan the planner can choose. */
export const FallbackType = {
  ALTERNATIVE_MODEL: 'alternative_model',
  QUEUE_AND_WAIT: 'queue_and_wait',
  MOCK_GENERATION: 'mock_generation',
  DOWNLOAD_AND_RETRY: 'download_and_retry',
  REDUCE_REQUIREMENTS: 'reduce_requirements',
  HYBRID_APPROACH: 'hybrid_approach',
} as const;
export type FallbackType = (typeof FallbackType)[keyof typeof FallbackType];

/** What a model can do; used for compatibility scoring. */
export const ModelCapability = {
  TEXT_TO_VIDEO: 'text_to_video',
  IMAGE_TO_VIDEO: 'image_to_video',
  TEXT_IMAGE_TO_VIDEO: 'text_image_to_video',
  HIGH_RESOLUTION: 'high_resolution',
  FAST_GENERATION: 'fast_generation',
  HIGH_QUALITY: 'high_quality',
} as const;
export type ModelCapability = (typeof ModelCapability)[keyof typeof ModelCapability];

/** Actions the recovery system can run against a backend. */
export const RecoveryAction = {
  FALLBACK_TO_MOCK: 'fallback_to_mock',
  RETRY_MODEL_DOWNLOAD: 'retry_model_download',
  APPLY_VRAM_OPTIMIZATION: 'apply_vram_optimization',
  RESTART_PIPELINE: 'restart_pipeline',
  CLEAR_GPU_CACHE: 'clear_gpu_cache',
  REDUCE_GENERATION_PARAMS: 'reduce_generation_params',
  ENABLE_CPU_OFFLOAD: 'enable_cpu_offload',
  SYSTEM_HEALTH_CHECK: 'system_health_check',
} as const;
export type RecoveryAction = (typeof RecoveryAction)[keyof typeof RecoveryAction];

/** Kinds of failure that trigger recovery and planning. */
export const FailureType = {
  MODEL_LOADING_FAILURE: 'model_loading_failure',
  VRAM_EXHAUSTION: 'vram_exhaustion',
  GENERATION_PIPELINE_ERROR: 'generation_pipeline_error',
  HARDWARE_OPTIMIZATION_FAILURE: 'hardware_optimization_failure',
  SYSTEM_RESOURCE_ERROR: 'system_resource_error',
  NETWORK_ERROR: 'network_error',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Whether a model can run now, and if not, why. `partial` and `verifying` extend the reference set. */
export const ModelAvailability = {
  AVAILABLE: 'available',
  DOWNLOADING: 'downloading',
  MISSING: 'missing',
  CORRUPTED: 'corrupted',
  PAUSED: 'paused',
  FAILED: 'failed',
  UNKNOWN: 'unknown',
  PARTIAL: 'partial',
  VERIFYING: 'verifying',
} as const;
export type ModelAvailability = (typeof ModelAvailability)[keyof typeof ModelAvailability];

/** Request priority, most urgent first. */
export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Rank of a priority: 0 for critical, larger is less urgent. */
export function priorityRank(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

/** Output quality a request asks for. */
export const QUALITIES = ['low', 'medium', 'high'] as const;
export type Quality = (typeof QUALITIES)[number];

/** Speed a request asks for. */
export const SPEEDS = ['fast', 'medium', 'slow'] as const;
export type Speed = (typeof SPEEDS)[number];

/** Kinds of input a model accepts. */
export const INPUT_KINDS = ['text', 'image'] as const;
export type InputKind = (typeof INPUT_KINDS)[number];

/** Labels of how close an alternative comes to the requested model. */
export type QualityLabel = 'similar' | 'slightly_lower' | 'significantly_lower';

/** Confidence in an estimate or a plan. */
export type Confidence = 'high' | 'medium' | 'low';

export const FALLBACK_TYPES = Object.values(FallbackType);
export const MODEL_CAPABILITIES = Object.values(ModelCapability);
export const RECOVERY_ACTIONS = Object.values(RecoveryAction);
export const FAILURE_TYPES = Object.values(FailureType);
export const MODEL_AVAILABILITIES = Object.values(ModelAvailability);
