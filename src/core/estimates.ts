import { z } from 'zod';
import type { ModelDescriptor } from './catalog.js';
import type { ModelStatus } from './availability.js';
import type { EstimateLearner } from './learner.js';
import { resolutionFactor } from './resolution-factors.js';
import type { Confidence, Quality } from './vocabulary.js';

/** Bytes in one GB of catalog size (binary, as model files are usually counted). */
export const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** How VRAM, generation time and waits are estimated. Every default is the reference's (DESIGN.md). */
export const EstimationConfigSchema = z.object({
  /** VRAM multiplier by resolution; other resolutions are interpolated on pixel count. */
  vramResolutionFactors: z
    .record(z.string(), z.number().positive())
    .default({ '1280x720': 1.0, '1280x704': 1.0, '1920x1080': 1.4, '1920x1088': 1.4 }),
  /** Share of a model's VRAM that grows in proportion to the frame count (default 0.5). */
  vramFrameShare: z.number().min(0).max(1).default(0.5),
  /** Generation-time multiplier by resolution; other resolutions are interpolated on pixel count. */
  timeResolutionFactors: z
    .record(z.string(), z.number().positive())
    .default({ '1280x720': 1.0, '1280x704': 1.0, '1920x1080': 1.5, '1920x1088': 1.5 }),
  /** Generation-time multiplier by quality (default high 1.3, medium 1, low 0.7). */
  qualityTimeFactors: z
    .object({ low: z.number().positive(), medium: z.number().positive(), high: z.number().positive() })
    .default({ low: 0.7, medium: 1, high: 1.3 }),
  /** Frames of a reference generation (default 16). */
  referenceFrames: z.number().int().positive().default(16),
  /** Sampling steps of a reference generation (default 25). */
  referenceSteps: z.number().int().positive().default(25),
  /**
   * Generation time on this hardware as a share of the catalog's (the catalog's figures are for a reference GPU),
   * assumed until real durations are measured (default 1; 0.5 for a GPU twice as fast).
   */
  generationSpeedFactor: z.number().positive().default(1),
  /** Download throughput assumed until one is measured, bytes per second (default 50 MiB/s). */
  downloadBytesPerSecond: z.number().positive().default(50 * MIB),
  /** Speed a model's weights load into GPU memory until loads are measured, GB per second (default 2: 14 GB in 7 s). */
  modelLoadGbPerSecond: z.number().positive().default(2),
  /** Seconds per queue position until job durations are measured (default 300). */
  secondsPerQueuePosition: z.number().positive().default(300),
  /** Estimate given at low confidence when estimation itself fails, seconds (default 900). */
  fallbackWaitSeconds: z.number().positive().default(900),
  /** Learned samples needed before a learned figure is trusted at high confidence (default 3). */
  samplesForHighConfidence: z.number().int().positive().default(3),
});
export type EstimationConfig = z.infer<typeof EstimationConfigSchema>;

/** Generation settings that size a job. */
export interface GenerationSettings {
  resolution: string;
  quality: Quality;
  numFrames?: number;
  steps?: number;
}

/** VRAM in GB that `model` needs for `settings`. */
export function estimateVramGb(model: ModelDescriptor, settings: GenerationSettings, config: EstimationConfig): number {
  const frames = settings.numFrames ?? config.referenceFrames;
  const frameFactor = 1 - config.vramFrameShare + (config.vramFrameShare * frames) / config.referenceFrames;
  return model.baseVramGb * resolutionFactor(config.vramResolutionFactors, settings.resolution) * frameFactor;
}

/**
 * Seconds one generation of `model` takes with `settings`: the catalog's figure scaled by what the learner has
 * measured for the model, or by `generationSpeedFactor` until it has.
 */
export function estimateGenerationSeconds(
  model: ModelDescriptor,
  settings: GenerationSettings,
  config: EstimationConfig,
  learner?: EstimateLearner,
): number {
  const ratio = learner?.speedRatio(model.id, settings.resolution)?.mean ?? config.generationSpeedFactor;
  return catalogGenerationSeconds(model, settings, config) * ratio;
}

/** Seconds the catalog alone predicts for one generation (what the learner compares real durations against). */
export function catalogGenerationSeconds(model: ModelDescriptor, settings: GenerationSettings, config: EstimationConfig): number {
  const frames = settings.numFrames ?? config.referenceFrames;
  const steps = settings.steps ?? config.referenceSteps;
  return (
    model.baseSeconds *
    resolutionFactor(config.timeResolutionFactors, settings.resolution) *
    config.qualityTimeFactors[settings.quality] *
    (frames / config.referenceFrames) *
    (steps / config.referenceSteps)
  );
}

/** How long until a model can serve a new request, and why (the reference's record, durations in seconds). */
export interface EstimatedWaitTime {
  modelId: string;
  /** Seconds of download left. */
  downloadTimeSeconds: number;
  /** 1-based position the request would take in the queue; null when estimation failed. */
  queuePosition: number | null;
  /** Seconds of queue ahead. */
  queueWaitTimeSeconds: number;
  /** Seconds until the request could start: remaining download plus the queue ahead of it. */
  totalWaitTimeSeconds: number;
  confidence: Confidence;
  /** The figures behind the estimate, in plain words. */
  factors: string[];
  /** Fraction of the download done, 0 to 1, when one is under way or partial. */
  downloadProgress?: number;
}

/**
 * A new request's wait as the queue forecast plays it (core/queue-forecast.ts): when it would start, and how much of
 * that is its model's download. Given, it replaces the fixed per-position figure.
 */
export interface ForecastWait {
  startInSeconds: number;
  /** Seconds until its model's download ends (0 when ready). */
  downloadSeconds: number;
  /** Jobs that would start before it. */
  jobsAhead: number;
  confidence: Confidence;
  factors: string[];
}

/** What a wait estimate is made from. */
export interface WaitContext {
  /** The queue forecast's figure for this model; when given it decides the wait (default: position × per-job seconds). */
  forecast?: ForecastWait;
  model: ModelDescriptor | undefined;
  status: ModelStatus;
  /** Jobs ahead in the queue for the GPU slots this request would use. */
  queueAhead: number;
  /** Slots working through that queue in parallel (default 1). */
  slots?: number;
  learner?: EstimateLearner;
  config: EstimationConfig;
}

/** Estimates the wait for a model. Throws on impossible input; {@link safeEstimateWaitTime} never throws. */
export function estimateWaitTime(ctx: WaitContext): EstimatedWaitTime {
  const { model, status, config, learner } = ctx;
  if (!model) throw new Error(`model "${status.modelId}" is not in the catalog`);
  if (ctx.forecast) return forecastWaitTime(model.id, ctx.forecast, status);
  const factors: string[] = [];
  let confidence: Confidence = 'high';
  const lower = (to: Confidence): void => {
    if (rankConfidence(to) < rankConfidence(confidence)) confidence = to;
  };

  let downloadSeconds = 0;
  let downloadProgress: number | undefined;
  if (status.status !== 'available') {
    const total = status.bytesTotal ?? model.sizeGb * GIB;
    const present = status.status === 'corrupted' || status.status === 'failed' ? 0 : Math.min(status.bytesPresent ?? 0, total);
    const remaining = total - present;
    if (present > 0) downloadProgress = present / total;
    const measured = status.downloadBytesPerSecond;
    const learned = learner?.downloadBytesPerSecond;
    const speed = measured ?? learned?.mean ?? config.downloadBytesPerSecond;
    downloadSeconds = remaining / speed;
    const source = measured ? 'measured on this download' : learned ? `learned from ${learned.samples} downloads` : 'assumed until measured';
    factors.push(`${formatBytes(remaining)} left to download at ${formatBytes(speed)}/s (${source})`);
    if (!measured && !(learned && learned.samples >= config.samplesForHighConfidence)) lower('medium');
    if (status.status === 'verifying') factors.push('files are being verified');
    if (status.status === 'paused') {
      factors.push('the download is paused and must be resumed');
      lower('low');
    }
    if (status.status === 'unknown') {
      factors.push('availability is unknown; assuming a full download');
      lower('low');
    }
    if (status.status === 'corrupted' || status.status === 'failed') factors.push(`files are ${status.status}; a full download is needed`);
  }

  const slots = Math.max(1, ctx.slots ?? 1);
  const jobSeconds = learner?.jobSeconds;
  const perPosition = jobSeconds?.mean ?? config.secondsPerQueuePosition;
  const queueSeconds = (ctx.queueAhead * perPosition) / slots;
  if (ctx.queueAhead > 0) {
    factors.push(
      `${ctx.queueAhead} request(s) ahead at ${Math.round(perPosition)} s each` +
        (slots > 1 ? ` over ${slots} slots` : '') +
        (jobSeconds ? ` (learned from ${jobSeconds.samples} jobs)` : ' (assumed until measured)'),
    );
    if (!jobSeconds || jobSeconds.samples < config.samplesForHighConfidence) lower('medium');
  }
  if (factors.length === 0) factors.push('model available and nothing queued ahead');

  const out: EstimatedWaitTime = {
    modelId: model.id,
    downloadTimeSeconds: downloadSeconds,
    queuePosition: ctx.queueAhead + 1,
    queueWaitTimeSeconds: queueSeconds,
    totalWaitTimeSeconds: downloadSeconds + queueSeconds,
    confidence,
    factors,
  };
  if (downloadProgress !== undefined) out.downloadProgress = downloadProgress;
  return out;
}

function forecastWaitTime(modelId: string, f: ForecastWait, status: ModelStatus): EstimatedWaitTime {
  const out: EstimatedWaitTime = {
    modelId,
    downloadTimeSeconds: f.downloadSeconds,
    queuePosition: f.jobsAhead + 1,
    queueWaitTimeSeconds: Math.max(0, f.startInSeconds - f.downloadSeconds),
    totalWaitTimeSeconds: f.startInSeconds,
    confidence: f.confidence,
    factors: f.factors,
  };
  if (status.status !== 'available' && status.bytesTotal && status.bytesPresent) out.downloadProgress = status.bytesPresent / status.bytesTotal;
  return out;
}

/** Like {@link estimateWaitTime}, but a failure gives the configured fallback at low confidence, naming the error. */
export function safeEstimateWaitTime(ctx: WaitContext): EstimatedWaitTime {
  try {
    return estimateWaitTime(ctx);
  } catch (error) {
    return fallbackWaitTime(ctx.status.modelId, error, ctx.config);
  }
}

/** The estimate given when estimation itself fails: the configured default at low confidence, naming the error. */
export function fallbackWaitTime(modelId: string, error: unknown, config: EstimationConfig): EstimatedWaitTime {
  const message = error instanceof Error ? error.message : String(error);
  return {
    modelId,
    downloadTimeSeconds: 0,
    queuePosition: null,
    queueWaitTimeSeconds: 0,
    totalWaitTimeSeconds: config.fallbackWaitSeconds,
    confidence: 'low',
    factors: [`estimation failed: ${message}; using the ${formatDuration(config.fallbackWaitSeconds)} default`],
  };
}

function rankConfidence(c: Confidence): number {
  return c === 'high' ? 2 : c === 'medium' ? 1 : 0;
}

/** Formats a byte count for people: `12.0 GiB`, `50.0 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Formats seconds for people: `45 s`, `4 min 6 s`, `1 h 5 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}
