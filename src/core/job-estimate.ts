/**
 * A job's estimate in the words users see (when it starts, when its result is ready, how sure we are and why), made
 * from a {@link JobForecast}; the figures a forecast needs (generation and load times, learned or assumed); and the
 * rule for when a changed estimate is worth telling the user. Pure.
 */
import type { ModelDescriptor } from './catalog.js';
import { catalogGenerationSeconds, formatDuration, type EstimationConfig, type GenerationSettings } from './estimates.js';
import type { EstimateLearner } from './learner.js';
import type { JobForecast, LoadTime } from './queue-forecast.js';
import type { Confidence } from './vocabulary.js';

/** A job's current estimate. Times are epoch milliseconds. */
export interface JobEstimate {
  /** When this estimate was made. */
  estimatedAt: number;
  /** When the job is expected to start (or started); null when nothing will run it as things stand. */
  startAt: number | null;
  /** When its result is expected; null when nothing will run it as things stand. */
  resultAt: number | null;
  confidence: Confidence;
  /** The figures behind it, in plain words. */
  factors: string[];
  /** The backend the forecast puts it on. */
  backendId?: string;
}

/** Seconds a generation takes and whether measured: the catalog's figure × the learned speed for the model and resolution. */
export function generationTime(model: ModelDescriptor, settings: GenerationSettings, config: EstimationConfig, learner?: EstimateLearner): { seconds: number; learned: boolean } {
  const ratio = learner?.speedRatio(model.id, settings.resolution);
  const learned = ratio !== undefined && ratio.samples >= config.samplesForHighConfidence;
  return { seconds: catalogGenerationSeconds(model, settings, config) * (ratio?.mean ?? config.generationSpeedFactor), learned };
}

/** Seconds `model` takes to load on `backendId`: learned there (or on another backend), else size ÷ assumed load speed. */
export function loadTime(model: ModelDescriptor, backendId: string, config: EstimationConfig, learner?: EstimateLearner): LoadTime {
  const learned = learner?.loadSeconds(backendId, model.id);
  if (learned) return { seconds: learned.mean, learned: learned.samples >= 1 };
  return { seconds: (model.sizeGb / config.modelLoadGbPerSecond) * config.generationSpeedFactor, learned: false };
}

/** What else a description needs besides the forecast. */
export interface DescribeContext {
  now: number;
  /** The job's own generation figure. */
  generation: { seconds: number; learned: boolean };
  /** Whether the download it waits for (if any) goes at a measured speed. */
  downloadMeasured: boolean;
  /** Slots across the backends. */
  slots: number;
}

/** The estimate a forecast gives one waiting job; `undefined` forecast means nothing will run it. */
export function describeForecast(forecast: JobForecast | undefined, ctx: DescribeContext): JobEstimate {
  if (!forecast) {
    return {
      estimatedAt: ctx.now,
      startAt: null,
      resultAt: null,
      confidence: 'low',
      factors: ['no backend can run its model as things stand (not installed, no download under way)'],
    };
  }
  const factors: string[] = [];
  const wait = (forecast.startAt - ctx.now) / 1000;
  factors.push(
    forecast.jobsAhead === 0
      ? 'nothing ahead of it'
      : `${forecast.jobsAhead} job(s) ahead in the scheduler's order over ${ctx.slots} slot(s), ${forecast.loadsAhead} model load(s) among them`,
  );
  if (forecast.waitsForDownload) factors.push(`waits for its model's download (${ctx.downloadMeasured ? 'measured' : 'assumed'} speed, shared with other downloads)`);
  if (forecast.loadSeconds > 0) factors.push(`loads its model first, about ${formatDuration(forecast.loadSeconds)}`);
  factors.push(`generation about ${formatDuration(ctx.generation.seconds)} (${ctx.generation.learned ? 'learned from earlier runs' : 'catalog figure, not yet measured'})`);
  factors.push(`starts in about ${formatDuration(Math.max(0, wait))} on ${forecast.backendId}`);
  let confidence: Confidence = forecast.assumedShare <= 0.1 ? 'high' : forecast.assumedShare <= 0.5 ? 'medium' : 'low';
  if (forecast.waitsForDownload && !ctx.downloadMeasured && confidence === 'high') confidence = 'medium';
  return { estimatedAt: ctx.now, startAt: forecast.startAt, resultAt: forecast.endAt, confidence, factors, backendId: forecast.backendId };
}

/** How far an estimate must move before users are told: more than `share` of the time left, and more than `minSeconds`. */
export interface MoveThreshold {
  /** Default 0.1. */
  share: number;
  /** Default 5. */
  minSeconds: number;
}

export const DEFAULT_MOVE_THRESHOLD: MoveThreshold = { share: 0.1, minSeconds: 5 };

/**
 * Whether `next` differs enough from `previous` (the last one told) to tell: its result time moved by more than 10 %
 * of the time that was left and more than 5 s (by default), or it became (un)reachable.
 */
export function estimateMoved(previous: JobEstimate, next: JobEstimate, threshold: MoveThreshold = DEFAULT_MOVE_THRESHOLD): boolean {
  if ((previous.resultAt === null) !== (next.resultAt === null)) return true;
  if (previous.resultAt === null || next.resultAt === null) return false;
  const movedMs = Math.abs(next.resultAt - previous.resultAt);
  const leftMs = Math.max(0, previous.resultAt - next.estimatedAt);
  return movedMs > threshold.minSeconds * 1000 && movedMs > threshold.share * leftMs;
}
