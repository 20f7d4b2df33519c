import { z } from 'zod';
import type { Catalog, ModelDescriptor } from './catalog.js';
import { statusOf, type AvailabilitySnapshot } from './availability.js';
import { estimateGenerationSeconds, estimateVramGb, type EstimationConfig } from './estimates.js';
import type { EstimateLearner } from './learner.js';
import type { GenerationRequirements } from './requirements.js';
import { ValidationError } from './validation.js';
import type { ModelAvailability, ModelCapability, QualityLabel } from './vocabulary.js';

/** Weights, factors and thresholds of compatibility scoring. Defaults are the reference formula (DESIGN.md). */
export const ScoringConfigSchema = z.object({
  /** Weights of the three parts of the score (default 0.4 table, 0.4 capabilities, 0.2 requirements). */
  weights: z
    .object({ compatibility: z.number().min(0), capabilities: z.number().min(0), requirements: z.number().min(0) })
    .default({ compatibility: 0.4, capabilities: 0.4, requirements: 0.2 }),
  /** Table value for a pair the compatibility table does not list (default 0.5). */
  unknownPairCompatibility: z.number().min(0).max(1).default(0.5),
  /** Multipliers of the requirement factor (which starts at 1). */
  requirementFactors: z
    .object({
      highQualityMatch: z.number().positive(),
      highQualityMiss: z.number().positive(),
      fastMatch: z.number().positive(),
      fastMiss: z.number().positive(),
      highResolutionMatch: z.number().positive(),
      highResolutionMiss: z.number().positive(),
    })
    .default({ highQualityMatch: 1.2, highQualityMiss: 0.7, fastMatch: 1.2, fastMiss: 0.8, highResolutionMatch: 1.1, highResolutionMiss: 0.6 }),
  /** Resolutions that need the high_resolution capability (default 1920x1080 and 1920x1088). */
  highResolutions: z.array(z.string()).default(['1920x1080', '1920x1088']),
  /** Score from which an alternative is labelled `similar` (default 0.9). */
  similarFrom: z.number().min(0).max(1).default(0.9),
  /** Score from which an alternative is labelled `slightly_lower` (default 0.7). */
  slightlyLowerFrom: z.number().min(0).max(1).default(0.7),
  /** Below this score nothing is an alternative (default 0.3). */
  minimumScore: z.number().min(0).max(1).default(0.3),
});
export type ScoringConfig = z.infer<typeof ScoringConfigSchema>;

/** One part of a score: its value before weighting and its weight. */
export interface ScorePart {
  value: number;
  weight: number;
}

/** A candidate model ranked as a stand-in for the requested one, with everything that decided its place. */
export interface ModelSuggestion {
  suggestedModel: string;
  /** 0 to 1; the weighted sum of the three parts, capped at 1. */
  compatibilityScore: number;
  factors: {
    compatibility: ScorePart;
    capabilities: ScorePart;
    requirements: ScorePart & { applied: string[] };
  };
  capabilitiesMatch: ModelCapability[];
  capabilitiesMissing: ModelCapability[];
  vramRequirementGb: number;
  /** Seconds one generation on it takes. */
  estimatedGenerationTimeSeconds: number;
  availabilityStatus: ModelAvailability;
  /** (candidate quality rank − requested rank) ÷ requested rank. */
  performanceDifference: number;
  estimatedQualityDifference: QualityLabel;
  /** Why, in plain words. */
  reason: string;
  /** True only for the preview suggestion given when no model qualifies. */
  isPreview: boolean;
}

/** A model that was not considered, and the constraint that ruled it out. */
export interface ExcludedCandidate {
  model: string;
  constraint: 'input' | 'vram' | 'score';
  /** Why, in plain words. */
  readonly reason: string;
  /** Score, when it was computed. */
  compatibilityScore?: number;
}

/**
 * An exclusion whose reason is put into words only when read (or serialized): ranking a large catalog rules out
 * many models, and most reasons are never shown.
 */
class Exclusion implements ExcludedCandidate {
  constructor(
    readonly model: string,
    readonly constraint: 'vram' | 'score',
    readonly compatibilityScore: number,
    private readonly figures: { needed: number; limit: number; resolution?: string },
  ) {}

  get reason(): string {
    const { needed, limit, resolution } = this.figures;
    return this.constraint === 'vram'
      ? `${this.model} needs ${needed.toFixed(1)} GB of VRAM at ${resolution}; ${limit.toFixed(1)} GB is available`
      : `${this.model} scores ${needed.toFixed(2)}, below the minimum ${limit}`;
  }

  toJSON(): ExcludedCandidate {
    return { model: this.model, constraint: this.constraint, reason: this.reason, compatibilityScore: this.compatibilityScore };
  }
}

/** Ranked suggestions (best first, all at or above the minimum score) and the models ruled out. */
export interface RankedAlternatives {
  requestedModel: string;
  suggestions: ModelSuggestion[];
  excluded: ExcludedCandidate[];
}

/** What ranking needs to know. */
export interface RankingInput {
  catalog: Catalog;
  requirements: GenerationRequirements;
  availability: AvailabilitySnapshot;
  /** VRAM the backend can give one job, GB; undefined means not constrained. */
  vramBudgetGb?: number;
  scoring: ScoringConfig;
  estimation: EstimationConfig;
  learner?: EstimateLearner;
}

/** Id of the preview generator that stands in when no model qualifies. */
export const PREVIEW_MODEL_ID = 'preview';

/** Returns the catalog entry for `modelId`, or throws a ValidationError naming the models allowed. */
export function requireModel(catalog: Catalog, modelId: string, field = 'model'): ModelDescriptor {
  const model = catalog.byId.get(modelId);
  if (!model) {
    throw new ValidationError('request', [
      { field, problem: `unknown model; expected one of: ${[...catalog.byId.keys()].join(', ')}`, received: modelId },
    ]);
  }
  return model;
}

/** Why `candidate` cannot take the request's inputs, or undefined when it can. Input type is a hard constraint. */
export function inputMismatch(candidate: ModelDescriptor, req: GenerationRequirements): string | undefined {
  if (req.hasImage && candidate.inputs.image === 'unsupported') return `${candidate.id} cannot take an input image`;
  if (!req.hasImage && candidate.inputs.image === 'required') return `${candidate.id} needs an input image`;
  if (req.hasText && candidate.inputs.text === 'unsupported') return `${candidate.id} cannot take a text prompt`;
  if (!req.hasText && candidate.inputs.text === 'required') return `${candidate.id} needs a text prompt`;
  return undefined;
}

/** A candidate's score and the figures behind it, before it is described in words. */
export interface ScoredCandidate {
  model: ModelDescriptor;
  score: number;
  compatibility: number;
  capabilityShare: number;
  requirementFactor: number;
  vramGb: number;
  availability: ModelAvailability;
  performanceDifference: number;
}

/** Candidates that qualify and those ruled out; the cheap first half of {@link rankAlternatives}. */
export interface ScoredCandidates {
  requested: ModelDescriptor;
  /** Candidates at or above the minimum score that fit the inputs and VRAM, in catalog order (see {@link compareCandidates}). */
  scored: ScoredCandidate[];
  excluded: ExcludedCandidate[];
}

/** Scores every other catalog model as a stand-in for the requested one and ranks them, best first. */
export function rankAlternatives(input: RankingInput): RankedAlternatives {
  const { requested, scored, excluded } = scoreCandidates(input);
  scored.sort(compareCandidates);
  return { requestedModel: requested.id, suggestions: scored.map((c) => describeCandidate(requested, c, input)), excluded };
}

/** Scores the candidates without ranking or describing them; see {@link compareCandidates} and {@link describeCandidate}. */
export function scoreCandidates(input: RankingInput): ScoredCandidates {
  const { catalog, requirements: req, scoring, estimation } = input;
  const requested = requireModel(catalog, req.modelType, 'modelType');
  const scored: ScoredCandidate[] = [];
  const excluded: ExcludedCandidate[] = [];
  const table = catalog.compatibility[requested.id];
  const settings = { resolution: req.resolution, quality: req.quality, numFrames: req.numFrames, steps: req.steps };
  const highResolution = scoring.highResolutions.includes(req.resolution);
  const w = scoring.weights;
  for (const candidate of catalog.models) {
    if (candidate === requested) continue;
    const mismatch = inputMismatch(candidate, req);
    if (mismatch) {
      excluded.push({ model: candidate.id, constraint: 'input', reason: mismatch });
      continue;
    }
    const compatibility = table?.[candidate.id] ?? scoring.unknownPairCompatibility;
    let shared = 0;
    for (const cap of requested.capabilities) if (candidate.capabilities.includes(cap)) shared++;
    const capabilityShare = shared / requested.capabilities.length;
    const requirementFactor = requirementFactorOf(candidate, req, highResolution, scoring);
    const score = Math.min(1, w.compatibility * compatibility + w.capabilities * capabilityShare + w.requirements * requirementFactor);
    const vramGb = estimateVramGb(candidate, settings, estimation);
    if (input.vramBudgetGb !== undefined && vramGb > input.vramBudgetGb) {
      excluded.push(new Exclusion(candidate.id, 'vram', score, { needed: vramGb, limit: input.vramBudgetGb, resolution: req.resolution }));
      continue;
    }
    if (score < scoring.minimumScore) {
      excluded.push(new Exclusion(candidate.id, 'score', score, { needed: score, limit: scoring.minimumScore }));
      continue;
    }
    scored.push({
      model: candidate,
      score,
      compatibility,
      capabilityShare,
      requirementFactor,
      vramGb,
      availability: statusOf(input.availability, candidate.id).status,
      performanceDifference: (candidate.qualityRank - requested.qualityRank) / requested.qualityRank,
    });
  }
  return { requested, scored, excluded };
}

/** Rank order, best first: higher score, then available before not, then higher quality rank, then id. */
export function compareCandidates(a: ScoredCandidate, b: ScoredCandidate): number {
  if (a.score !== b.score) return b.score - a.score;
  const aReady = a.availability === 'available' ? 0 : 1;
  const bReady = b.availability === 'available' ? 0 : 1;
  if (aReady !== bReady) return aReady - bReady;
  if (a.performanceDifference !== b.performanceDifference) return b.performanceDifference - a.performanceDifference;
  return a.model.id < b.model.id ? -1 : a.model.id > b.model.id ? 1 : 0;
}

function requirementFactorOf(candidate: ModelDescriptor, req: GenerationRequirements, highResolution: boolean, scoring: ScoringConfig): number {
  const f = scoring.requirementFactors;
  let factor = 1;
  if (req.quality === 'high') factor *= candidate.capabilities.includes('high_quality') ? f.highQualityMatch : f.highQualityMiss;
  if (req.speed === 'fast') factor *= candidate.capabilities.includes('fast_generation') ? f.fastMatch : f.fastMiss;
  if (highResolution) factor *= candidate.capabilities.includes('high_resolution') ? f.highResolutionMatch : f.highResolutionMiss;
  return factor;
}

/** Describes a scored candidate as a full suggestion: capabilities, estimates, label and reason in words. */
export function describeCandidate(requested: ModelDescriptor, c: ScoredCandidate, input: RankingInput): ModelSuggestion {
  const { requirements: req, scoring } = input;
  const candidate = c.model;
  const f = scoring.requirementFactors;
  const matched: ModelCapability[] = [];
  const missing: ModelCapability[] = [];
  for (const cap of requested.capabilities) (candidate.capabilities.includes(cap) ? matched : missing).push(cap);
  const applied: string[] = [];
  const has = (cap: ModelCapability): boolean => candidate.capabilities.includes(cap);
  if (req.quality === 'high') applied.push(has('high_quality') ? `high quality supported ×${f.highQualityMatch}` : `high quality not supported ×${f.highQualityMiss}`);
  if (req.speed === 'fast') applied.push(has('fast_generation') ? `fast generation supported ×${f.fastMatch}` : `fast generation not supported ×${f.fastMiss}`);
  if (scoring.highResolutions.includes(req.resolution)) {
    applied.push(has('high_resolution') ? `${req.resolution} supported ×${f.highResolutionMatch}` : `${req.resolution} not a strength ×${f.highResolutionMiss}`);
  }
  const label: QualityLabel = c.score >= scoring.similarFrom ? 'similar' : c.score >= scoring.slightlyLowerFrom ? 'slightly_lower' : 'significantly_lower';
  const settings = { resolution: req.resolution, quality: req.quality, numFrames: req.numFrames, steps: req.steps };
  const w = scoring.weights;
  return {
    suggestedModel: candidate.id,
    compatibilityScore: c.score,
    factors: {
      compatibility: { value: c.compatibility, weight: w.compatibility },
      capabilities: { value: c.capabilityShare, weight: w.capabilities },
      requirements: { value: c.requirementFactor, weight: w.requirements, applied },
    },
    capabilitiesMatch: matched,
    capabilitiesMissing: missing,
    vramRequirementGb: c.vramGb,
    estimatedGenerationTimeSeconds: estimateGenerationSeconds(candidate, settings, input.estimation, input.learner),
    availabilityStatus: c.availability,
    performanceDifference: c.performanceDifference,
    estimatedQualityDifference: label,
    reason:
      `${candidate.id} scores ${c.score.toFixed(2)} for ${requested.id}: compatibility ${c.compatibility}, ` +
      `${matched.length} of ${requested.capabilities.length} capabilities shared` +
      (missing.length ? ` (lacks ${missing.join(', ')})` : '') +
      `, quality ${label.replace('_', ' ')}, ${c.availability}`,
    isPreview: false,
  };
}

/** The suggestion given when no model qualifies: a clearly labelled preview. */
export function previewSuggestion(requestedModel: string, why: string): ModelSuggestion {
  return {
    suggestedModel: PREVIEW_MODEL_ID,
    compatibilityScore: 0,
    factors: {
      compatibility: { value: 0, weight: 0 },
      capabilities: { value: 0, weight: 0 },
      requirements: { value: 0, weight: 0, applied: [] },
    },
    capabilitiesMatch: [],
    capabilitiesMissing: [],
    vramRequirementGb: 0,
    estimatedGenerationTimeSeconds: 0,
    availabilityStatus: 'available',
    performanceDifference: -1,
    estimatedQualityDifference: 'significantly_lower',
    reason: `no model can stand in for ${requestedModel} (${why}); a preview is the only result available now`,
    isPreview: true,
  };
}
