/**
 * Recovery policy: which recovery actions run for each failure type and in what order, how long to wait before
 * recovering the same thing again, how long an action may take, how downloads are retried and when a circuit
 * breaker takes a backend or model out of rotation. Pure data and arithmetic; validated with zod.
 */
import { exponentialBackoffMs } from './backoff.js';
import { z } from 'zod';
import { FAILURE_TYPES, RECOVERY_ACTIONS, type FailureType, type RecoveryAction } from './vocabulary.js';
import { ClassificationRulesConfigSchema } from './failure-classification.js';
import { HealthThresholdsSchema } from './health-assessment.js';
import { parseOrThrow } from './validation.js';

/** The reference recovery chains (DESIGN.md), tried in order and stopping at the first success. */
export const DEFAULT_RECOVERY_CHAINS: Readonly<Record<FailureType, readonly RecoveryAction[]>> = {
  model_loading_failure: ['clear_gpu_cache', 'retry_model_download', 'apply_vram_optimization', 'fallback_to_mock'],
  vram_exhaustion: [
    'clear_gpu_cache',
    'apply_vram_optimization',
    'enable_cpu_offload',
    'reduce_generation_params',
    'fallback_to_mock',
  ],
  generation_pipeline_error: ['clear_gpu_cache', 'restart_pipeline', 'apply_vram_optimization', 'fallback_to_mock'],
  hardware_optimization_failure: ['system_health_check', 'clear_gpu_cache', 'fallback_to_mock'],
  system_resource_error: ['system_health_check', 'clear_gpu_cache', 'fallback_to_mock'],
  network_error: ['retry_model_download', 'fallback_to_mock'],
};

/** Offload modes a backend may support, from none to the most memory-frugal. */
export const OFFLOAD_MODES = ['none', 'model', 'sequential', 'lowvram', 'novram'] as const;
export type OffloadMode = (typeof OFFLOAD_MODES)[number];

const ChainSchema = z.array(z.enum(RECOVERY_ACTIONS)).min(1);
const seconds = z.number().positive();

/** Schema of the download retry policy. */
export const DownloadRetrySchema = z.strictObject({
  /** Download tries in one retry_model_download action, the first included. Default 3. */
  attempts: z.number().int().min(1).default(3),
  /** Wait before the second try, in seconds. Default 5. */
  initialDelaySeconds: z.number().min(0).default(5),
  /** Each further wait is the previous one times this. Default 2. */
  multiplier: z.number().min(1).default(2),
  /** Waits are spread uniformly by ± this fraction so retries do not synchronise. Default 0.2. */
  jitterRatio: z.number().min(0).max(1).default(0.2),
  /** No wait is longer than this, in seconds. Default 300. */
  maxDelaySeconds: z.number().min(0).default(300),
});

/** Schema of the circuit breaker settings, one breaker per backend and per model on a backend. */
export const BreakerSchema = z.strictObject({
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold: z.number().int().min(1).default(5),
  /** How long an open breaker keeps its target out of rotation before a trial (half-open), in seconds. Default 60. */
  openSeconds: seconds.default(60),
  /** Each failed trial multiplies the open time by this. Default 2. */
  backoffMultiplier: z.number().min(1).default(2),
  /** Upper bound of the open time, in seconds. Default 600. */
  maxOpenSeconds: seconds.default(600),
});

/** Schema of the whole recovery configuration; every field is optional and has a documented default. */
export const RecoveryConfigSchema = z.strictObject({
  /** Chains to replace, per failure type; failure types left out keep {@link DEFAULT_RECOVERY_CHAINS}. */
  chains: z.partialRecord(z.enum(FAILURE_TYPES), ChainSchema).default({}),
  /** Seconds after a recovery during which the same failure type (in the same scope) is not recovered again. Default 30. */
  cooldownSeconds: z.number().min(0).default(30),
  /** Actions tried per handled failure at most; the rest of the chain is skipped. Default 3. */
  maxRecoveryAttempts: z.number().int().min(1).default(3),
  /** Seconds an action may take before it is abandoned as failed. Default 60. */
  actionTimeoutSeconds: seconds.default(60),
  /** Per-action timeouts overriding `actionTimeoutSeconds`. Default: restart_pipeline 180 s, retry_model_download 3600 s. */
  actionTimeoutOverrides: z
    .partialRecord(z.enum(RECOVERY_ACTIONS), seconds)
    .default({ restart_pipeline: 180, retry_model_download: 3600 }),
  /** Offload mode that enable_cpu_offload asks for. Default `model` (whole models move to CPU between uses). */
  cpuOffloadMode: z.enum(OFFLOAD_MODES).default('model'),
  downloadRetry: DownloadRetrySchema.prefault({}),
  breaker: BreakerSchema.prefault({}),
  /** Health thresholds; see health-assessment.ts. */
  health: HealthThresholdsSchema.prefault({}),
  /** Extra classification rules, tried before the built-in table. Default none. */
  classificationRules: ClassificationRulesConfigSchema.default([]),
});

/** Recovery configuration as written (every field optional). */
export type RecoveryConfig = z.input<typeof RecoveryConfigSchema>;
/** Recovery configuration with defaults applied and chains complete for every failure type. */
export type RecoveryPolicy = Omit<z.output<typeof RecoveryConfigSchema>, 'chains'> & {
  readonly chains: Readonly<Record<FailureType, readonly RecoveryAction[]>>;
};
export type DownloadRetryPolicy = z.output<typeof DownloadRetrySchema>;
export type BreakerPolicy = z.output<typeof BreakerSchema>;

/** Validates a recovery configuration and fills in defaults; throws a ValidationError naming each bad field. */
export function parseRecoveryConfig(config: unknown = {}): RecoveryPolicy {
  const parsed = parseOrThrow(RecoveryConfigSchema, config, 'recovery config');
  return { ...parsed, chains: { ...DEFAULT_RECOVERY_CHAINS, ...parsed.chains } };
}

/** The reference policy. */
export const DEFAULT_RECOVERY_POLICY: RecoveryPolicy = parseRecoveryConfig();

/** Milliseconds `action` may run under `policy`. */
export function actionTimeoutMs(policy: RecoveryPolicy, action: RecoveryAction): number {
  return (policy.actionTimeoutOverrides[action] ?? policy.actionTimeoutSeconds) * 1000;
}

/**
 * Milliseconds to wait after failed download try number `failedTry` (1-based) before the next one:
 * initialDelay × multiplier^(failedTry − 1), capped at maxDelay, then spread by ± jitterRatio using `random`
 * (a number in [0, 1); 0.5 means no spread).
 */
export function downloadRetryDelayMs(retry: DownloadRetryPolicy, failedTry: number, random: () => number): number {
  return exponentialBackoffMs(
    {
      initialMs: retry.initialDelaySeconds * 1000,
      multiplier: retry.multiplier,
      maxMs: retry.maxDelaySeconds * 1000,
      jitterRatio: retry.jitterRatio,
    },
    failedTry,
    random,
  );
}
