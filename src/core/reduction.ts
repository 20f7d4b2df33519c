import { z } from 'zod';
import type { ModelDescriptor } from './catalog.js';
import { estimateGenerationSeconds, estimateVramGb, type EstimationConfig, type GenerationSettings } from './estimates.js';
import type { EstimateLearner } from './learner.js';
import { parseResolution, type GenerationRequirements } from './requirements.js';
import { QUALITIES, type Quality } from './vocabulary.js';

/** The settings the reduction ladder may choose from, and how much each kind of loss costs. */
export const ReductionConfigSchema = z.object({
  /** Resolutions to try, any order; only those no larger than the request are used (default 1080p, 720p, 480p). */
  resolutions: z.array(z.string()).default(['1920x1080', '1280x720', '832x480']),
  /** Frame counts to try below the request (default 16 and 8). */
  frameOptions: z.array(z.number().int().positive()).default([16, 8]),
  /** Step counts to try below the request (default 20 and 15). */
  stepOptions: z.array(z.number().int().positive()).default([20, 15]),
  /** How much each kind of loss weighs when choosing the largest settings that fit (exponents of the ratios kept). */
  weights: z
    .object({ resolution: z.number().min(0), frames: z.number().min(0), steps: z.number().min(0), quality: z.number().min(0) })
    .default({ resolution: 0.5, frames: 1, steps: 0.3, quality: 0.7 }),
});
export type ReductionConfig = z.infer<typeof ReductionConfigSchema>;

/** One change the planner made to a request, with the reason. */
export interface RequirementAdjustment {
  field: 'resolution' | 'numFrames' | 'steps' | 'quality';
  from: string | number;
  to: string | number;
  reason: string;
}

/** Reduced settings and what changed. */
export interface Reduction {
  settings: Required<GenerationSettings>;
  adjustments: RequirementAdjustment[];
  vramGb: number;
  generationSeconds: number;
}

/** Limits the reduced settings must meet; at least one should be given. */
export interface ReductionLimits {
  /** VRAM available to one job, GB. */
  vramBudgetGb?: number;
  /** Longest the generation itself may take, seconds. */
  maxGenerationSeconds?: number;
}

const QUALITY_KEEP: Record<Quality, number> = { high: 1, medium: 0.85, low: 0.6 };

/**
 * Finds the largest settings of `model` that meet `limits`: every combination of resolution, frames, steps and
 * quality no larger than the request is tried, and the one that keeps most of the request (weighted by
 * `config.weights`) wins; ties go to the fewest changes. Returns null when nothing fits. With no limits it applies
 * the reference's fixed rule: 1080p → 1280x720, steps > 25 → 20, frames > 16 → 8, high quality → medium.
 */
export function findReduction(
  model: ModelDescriptor,
  req: GenerationRequirements,
  limits: ReductionLimits,
  config: ReductionConfig,
  estimation: EstimationConfig,
  learner?: EstimateLearner,
): Reduction | null {
  const original: Required<GenerationSettings> = {
    resolution: req.resolution,
    quality: req.quality,
    numFrames: req.numFrames ?? estimation.referenceFrames,
    steps: req.steps ?? estimation.referenceSteps,
  };
  if (limits.vramBudgetGb === undefined && limits.maxGenerationSeconds === undefined) {
    return referenceReduction(model, original, estimation, learner);
  }
  const reqPixels = pixels(original.resolution);
  const resolutions = unique([original.resolution, ...config.resolutions.filter((r) => pixels(r) < reqPixels)]);
  const frames = unique([original.numFrames, ...config.frameOptions.filter((f) => f < original.numFrames)]);
  const steps = unique([original.steps, ...config.stepOptions.filter((s) => s < original.steps)]);
  const qualities = QUALITIES.filter((q) => QUALITY_KEEP[q] <= QUALITY_KEEP[original.quality]);

  let best: { settings: Required<GenerationSettings>; kept: number; changes: number; vram: number; seconds: number } | null = null;
  const w = config.weights;
  for (const resolution of resolutions) {
    const keptRes = (pixels(resolution) / reqPixels) ** w.resolution;
    for (const numFrames of frames) {
      const vram = estimateVramGb(model, { resolution, quality: original.quality, numFrames }, estimation);
      if (limits.vramBudgetGb !== undefined && vram > limits.vramBudgetGb) continue;
      const keptFrames = keptRes * (numFrames / original.numFrames) ** w.frames;
      for (const stepCount of steps) {
        const keptSteps = keptFrames * (stepCount / original.steps) ** w.steps;
        for (const quality of qualities) {
          const settings = { resolution, quality, numFrames, steps: stepCount };
          const seconds = estimateGenerationSeconds(model, settings, estimation, learner);
          if (limits.maxGenerationSeconds !== undefined && seconds > limits.maxGenerationSeconds) continue;
          const kept = keptSteps * (QUALITY_KEEP[quality] / QUALITY_KEEP[original.quality]) ** w.quality;
          const changes =
            Number(resolution !== original.resolution) +
            Number(numFrames !== original.numFrames) +
            Number(stepCount !== original.steps) +
            Number(quality !== original.quality);
          if (!best || kept > best.kept + 1e-12 || (Math.abs(kept - best.kept) <= 1e-12 && changes < best.changes)) {
            best = { settings, kept, changes, vram, seconds };
          }
        }
      }
    }
  }
  if (!best || best.changes === 0) return null;
  const why = limits.vramBudgetGb !== undefined ? `to fit ${limits.vramBudgetGb.toFixed(1)} GB of VRAM` : 'to finish in time';
  return {
    settings: best.settings,
    adjustments: describeChanges(original, best.settings, why),
    vramGb: best.vram,
    generationSeconds: best.seconds,
  };
}

function referenceReduction(
  model: ModelDescriptor,
  original: Required<GenerationSettings>,
  estimation: EstimationConfig,
  learner?: EstimateLearner,
): Reduction | null {
  const settings: Required<GenerationSettings> = {
    resolution: pixels(original.resolution) > pixels('1280x720') ? '1280x720' : original.resolution,
    quality: original.quality === 'high' ? 'medium' : original.quality,
    numFrames: original.numFrames > 16 ? 8 : original.numFrames,
    steps: original.steps > 25 ? 20 : original.steps,
  };
  const adjustments = describeChanges(original, settings, 'to use less VRAM (reference reduction)');
  if (adjustments.length === 0) return null;
  return {
    settings,
    adjustments,
    vramGb: estimateVramGb(model, settings, estimation),
    generationSeconds: estimateGenerationSeconds(model, settings, estimation, learner),
  };
}

function describeChanges(from: Required<GenerationSettings>, to: Required<GenerationSettings>, why: string): RequirementAdjustment[] {
  const out: RequirementAdjustment[] = [];
  if (from.resolution !== to.resolution) out.push({ field: 'resolution', from: from.resolution, to: to.resolution, reason: why });
  if (from.numFrames !== to.numFrames) out.push({ field: 'numFrames', from: from.numFrames, to: to.numFrames, reason: why });
  if (from.steps !== to.steps) out.push({ field: 'steps', from: from.steps, to: to.steps, reason: why });
  if (from.quality !== to.quality) out.push({ field: 'quality', from: from.quality, to: to.quality, reason: why });
  return out;
}

/** Applies reduced settings to requirements. */
export function applyReduction(req: GenerationRequirements, reduction: Reduction): GenerationRequirements {
  return { ...req, ...reduction.settings };
}

function pixels(resolution: string): number {
  const { width, height } = parseResolution(resolution);
  return width * height;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
