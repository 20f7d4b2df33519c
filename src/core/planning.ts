// Over 400 lines for one reason: the planner is one decision procedure (the reference's order of strategies) with its reasons; scoring and estimates live in their own files.
import { z } from 'zod';
import { statusOf, type ModelStatus } from './availability.js';
import type { ModelDescriptor } from './catalog.js';
import {
  EstimationConfigSchema,
  GIB,
  estimateGenerationSeconds,
  estimateVramGb,
  formatBytes,
  formatDuration,
  safeEstimateWaitTime,
  type EstimatedWaitTime,
  type ForecastWait,
} from './estimates.js';
import { ReductionConfigSchema, applyReduction, findReduction, type Reduction, type RequirementAdjustment } from './reduction.js';
import type { GenerationRequirements } from './requirements.js';
import {
  PREVIEW_MODEL_ID,
  ScoringConfigSchema,
  compareCandidates,
  describeCandidate,
  requireModel,
  scoreCandidates,
  type ModelSuggestion,
  type RankingInput,
  type ScoredCandidate,
  type ScoredCandidates,
} from './scoring.js';
import type { FailureType, FallbackType } from './vocabulary.js';

/** What a plan does: one of the six fallback types, run as asked, or reject when the user allows nothing that works. */
export type StrategyType = FallbackType | 'as_requested' | 'reject';

/** The situation a plan answers: a failure type, or the requested model's availability. */
export type Situation = FailureType | 'available' | 'not_downloaded' | 'download_in_progress' | 'download_paused';

/** One step of a decision policy: an option, tried in order; the first eligible step wins. */
export const PolicyStepSchema = z.object({
  option: z.enum(['as_requested', 'alternative', 'lighter_model', 'hybrid_approach', 'queue_and_wait', 'download_and_retry', 'reduce_requirements', 'mock_generation']),
  /** Least score an alternative needs for this step. */
  minScore: z.number().min(0).max(1).optional(),
  /** Longest wait, seconds, this step accepts (besides the user's maxWaitTimeSeconds). */
  maxWaitSeconds: z.number().positive().optional(),
});
export type PolicyStep = z.infer<typeof PolicyStepSchema>;

const step = (option: PolicyStep['option'], extra: Omit<PolicyStep, 'option'> = {}): PolicyStep => ({ option, ...extra });

/** The reference decisions of DESIGN.md, with hybrid_approach used while a download is under way. */
export const DEFAULT_POLICIES: Record<Situation, PolicyStep[]> = {
  available: [step('as_requested'), step('alternative', { minScore: 0.7 }), step('mock_generation')],
  not_downloaded: [
    step('alternative', { minScore: 0.7 }),
    step('download_and_retry', { maxWaitSeconds: 1800 }),
    step('alternative', { minScore: 0.5 }),
    step('mock_generation'),
  ],
  download_in_progress: [
    step('queue_and_wait', { maxWaitSeconds: 300 }),
    step('hybrid_approach', { minScore: 0.7 }),
    step('queue_and_wait'),
    step('alternative', { minScore: 0.5 }),
    step('mock_generation'),
  ],
  download_paused: [
    step('alternative', { minScore: 0.7 }),
    step('download_and_retry', { maxWaitSeconds: 1800 }),
    step('alternative', { minScore: 0.5 }),
    step('mock_generation'),
  ],
  vram_exhaustion: [step('lighter_model', { minScore: 0.5 }), step('reduce_requirements'), step('mock_generation')],
  network_error: [step('alternative', { minScore: 0.7 }), step('queue_and_wait'), step('mock_generation')],
  model_loading_failure: [step('alternative', { minScore: 0.6 }), step('mock_generation')],
  generation_pipeline_error: [step('alternative', { minScore: 0.6 }), step('mock_generation')],
  hardware_optimization_failure: [step('alternative', { minScore: 0.6 }), step('mock_generation')],
  system_resource_error: [step('alternative', { minScore: 0.6 }), step('mock_generation')],
};

/** Everything the planner can be configured with; every field has the reference default. */
export const PlannerConfigSchema = z.object({
  scoring: ScoringConfigSchema.prefault({}),
  estimation: EstimationConfigSchema.prefault({}),
  reduction: ReductionConfigSchema.prefault({}),
  /** Decision order per situation; a situation left out keeps its default. */
  policies: z.record(z.string(), z.array(PolicyStepSchema).min(1)).default({}),
  /** Estimated wait after a network error, seconds (default 600). */
  networkErrorWaitSeconds: z.number().positive().default(600),
});
export type PlannerConfig = z.infer<typeof PlannerConfigSchema>;
export type PlannerConfigInput = z.input<typeof PlannerConfigSchema>;

/** An option the planner weighed, whether it won, and if not, why. */
export interface ConsideredOption {
  type: StrategyType;
  model?: string;
  score?: number;
  /** Least score this step required of an alternative. */
  minScore?: number;
  /** Seconds until this option would deliver its result. */
  estimatedSeconds?: number;
  chosen: boolean;
  whyNot?: string;
}

/** The plan for one request, with the reasons behind it. */
export interface FallbackStrategy {
  strategyType: StrategyType;
  situation: Situation;
  /** Model that runs first: the requested one, an alternative, or `preview`. */
  model: string;
  /** The alternative that runs instead of (or, for hybrid, before) the requested model. */
  alternativeModel?: string;
  alternative?: ModelSuggestion;
  /** Plain-words instruction for the engine, e.g. "download t2v-A14B then run". */
  recommendedAction: string;
  /** Seconds until the first result: waiting plus generation. */
  estimatedWaitTimeSeconds: number;
  /** Wait for the requested model, when the plan waits for it (queue, download, hybrid). */
  waitEstimate?: EstimatedWaitTime;
  userMessage: string;
  /** Whether the request can be kept queued for the requested model. */
  canQueueRequest: boolean;
  /** Hybrid: the requested model's job stays queued until the model is ready. */
  queueRequestedModel: boolean;
  /** 0 to 1: how sure the planner is that this plan delivers. */
  confidenceScore: number;
  fallbackOptions: ConsideredOption[];
  requirementsAdjustments: RequirementAdjustment[];
  /** Requirements the engine runs with (adjusted when the plan reduces them). */
  requirements: GenerationRequirements;
  /** True when the plan's first result is a preview, not a real generation. */
  isPreview: boolean;
}

/** What planning needs to know beyond ranking: the failure, and the queue. */
export interface PlanningInput extends Omit<RankingInput, 'scoring' | 'estimation'> {
  config: PlannerConfig;
  failureType?: FailureType;
  errorMessage?: string;
  /** Jobs queued ahead for a model's slots. Default: none. */
  queueAhead?: (modelId: string) => number;
  /** A new request's wait for each model as the queue forecast plays it; when given it replaces queueAhead's arithmetic. */
  forecastWait?: (modelId: string) => ForecastWait | undefined;
  /** GPU slots working through the queue (default 1). */
  slots?: number;
}

/** The figures of one eligible option, turned into words only if it wins. */
interface OptionPlan {
  type: StrategyType;
  model: string;
  seconds: number;
  candidate?: ScoredCandidate;
  wait?: EstimatedWaitTime;
  reduction?: Reduction;
  lighter?: boolean;
  /** Hybrid: when the requested model's result follows. */
  laterSeconds?: number;
}

interface Evaluation {
  option: ConsideredOption;
  plan?: OptionPlan;
}

/**
 * Chooses the plan for a request: works out the situation (failure type, else availability), walks that situation's
 * policy steps in order, and takes the first eligible one. Every step is evaluated and reported in fallbackOptions.
 * Honours allowAlternatives, allowQualityReduction, allowMock and maxWaitTimeSeconds. Throws a ValidationError for an
 * unknown model; never disguises an internal error as "no alternatives".
 */
export function planFallback(input: PlanningInput): FallbackStrategy {
  return new PlanBuilder(input).plan();
}

/** One planning decision's working state: computed once, shared by the policy steps. */
class PlanBuilder {
  private readonly req: GenerationRequirements;
  private readonly requested: ModelDescriptor;
  private readonly status: ModelStatus;
  private readonly requestedVram: number;
  private readonly requestedSeconds: number;
  private readonly fitsVram: boolean;
  private readonly situation: Situation;
  private ranked: ScoredCandidates | undefined;
  private wait: EstimatedWaitTime | undefined;

  constructor(private readonly input: PlanningInput) {
    this.req = input.requirements;
    this.requested = requireModel(input.catalog, this.req.modelType, 'modelType');
    this.status = statusOf(input.availability, this.requested.id);
    const est = input.config.estimation;
    this.requestedVram = estimateVramGb(this.requested, this.req, est);
    this.requestedSeconds = estimateGenerationSeconds(this.requested, this.req, est, input.learner);
    this.fitsVram = input.vramBudgetGb === undefined || this.requestedVram <= input.vramBudgetGb;
    const s = this.status.status;
    if (input.failureType) this.situation = input.failureType;
    else if (s === 'available') this.situation = this.fitsVram ? 'available' : 'vram_exhaustion';
    else if (s === 'downloading' || s === 'verifying' || s === 'partial') this.situation = 'download_in_progress';
    else if (s === 'paused') this.situation = 'download_paused';
    else this.situation = 'not_downloaded';
  }

  plan(): FallbackStrategy {
    const policy = (this.input.config.policies[this.situation] as PolicyStep[] | undefined) ?? DEFAULT_POLICIES[this.situation];
    const evaluations = policy.map((st) => {
      const evaluation = this.evaluate(st);
      if (st.minScore !== undefined) evaluation.option.minScore = st.minScore;
      return evaluation;
    });
    const winner = evaluations.find((e) => e.plan);
    const fallbackOptions = evaluations.map((e) => {
      if (e === winner) e.option.chosen = true;
      else if (e.plan && winner) e.option.whyNot = `ranked below ${winner.option.type} for ${this.situation}`;
      return e.option;
    });
    if (!winner?.plan) {
      const out = this.strategy('reject', this.requested.id, 0, fallbackOptions);
      out.recommendedAction = 'reject the request';
      out.userMessage =
        `${this.headline()} Nothing the request allows can deliver: ` +
        `${fallbackOptions.map((o) => `${o.type}${o.model ? ` (${o.model})` : ''}: ${o.whyNot}`).join('; ')}.`;
      return out;
    }
    return this.describe(winner.plan, fallbackOptions);
  }

  private evaluate(st: PolicyStep): Evaluation {
    const { requested, status, req } = this;
    switch (st.option) {
      case 'as_requested': {
        if (status.status !== 'available') return rejected('as_requested', requested.id, `${requested.id} is ${status.status}`);
        if (!this.fitsVram) {
          return rejected('as_requested', requested.id, `needs ${this.requestedVram.toFixed(1)} GB of VRAM; ${this.input.vramBudgetGb?.toFixed(1)} GB available`);
        }
        return this.waitForRequested('as_requested', st, this.requestedWait().totalWaitTimeSeconds);
      }
      case 'alternative':
      case 'lighter_model': {
        const lighter = st.option === 'lighter_model';
        const picked = this.pickAlternative(st.minScore ?? this.input.config.scoring.minimumScore, lighter);
        if (typeof picked === 'string') return rejected('alternative_model', undefined, picked);
        const wait = this.queueSecondsFor(picked.model.id);
        const seconds = wait + this.generationSecondsOf(picked);
        const slow = this.tooSlow(wait, seconds, st.maxWaitSeconds);
        if (slow) return rejected('alternative_model', picked.model.id, slow, seconds, picked.score);
        return eligible({ type: 'alternative_model', model: picked.model.id, seconds, candidate: picked, lighter }, picked.score);
      }
      case 'hybrid_approach': {
        const picked = this.pickAlternative(st.minScore ?? this.input.config.scoring.minimumScore, false);
        if (typeof picked === 'string') return rejected('hybrid_approach', undefined, picked);
        const w = this.requestedWait();
        const later = w.totalWaitTimeSeconds + this.requestedSeconds;
        const slow = this.tooSlow(w.totalWaitTimeSeconds, later, st.maxWaitSeconds);
        if (slow) return rejected('hybrid_approach', picked.model.id, `${requested.id} ${slow}`, later, picked.score);
        const seconds = this.queueSecondsFor(picked.model.id) + this.generationSecondsOf(picked);
        return eligible({ type: 'hybrid_approach', model: picked.model.id, seconds, candidate: picked, wait: w, laterSeconds: later }, picked.score);
      }
      case 'queue_and_wait':
        return this.waitForRequested('queue_and_wait', st, this.requestedWait().totalWaitTimeSeconds);
      case 'download_and_retry':
        return this.waitForRequested('download_and_retry', st, this.requestedWait().downloadTimeSeconds);
      case 'reduce_requirements':
        return this.evaluateReduction(st);
      case 'mock_generation':
        if (!req.allowMock) return rejected('mock_generation', PREVIEW_MODEL_ID, 'the request does not allow a preview');
        return eligible({ type: 'mock_generation', model: PREVIEW_MODEL_ID, seconds: 0 });
    }
  }

  /** An option that runs the requested model after a wait; `stepWait` is what the step's own limit applies to. */
  private waitForRequested(type: StrategyType, st: PolicyStep, stepWait: number): Evaluation {
    const w = this.requestedWait(type === 'queue_and_wait' && this.situation === 'network_error');
    const seconds = w.totalWaitTimeSeconds + this.requestedSeconds;
    const slow = this.tooSlow(type === 'queue_and_wait' ? w.totalWaitTimeSeconds : stepWait, seconds, st.maxWaitSeconds);
    if (slow) return rejected(type, this.requested.id, slow, seconds);
    return eligible({ type, model: this.requested.id, seconds, wait: w });
  }

  private evaluateReduction(st: PolicyStep): Evaluation {
    const { requested, req, input, situation } = this;
    if (!req.allowQualityReduction) return rejected('reduce_requirements', requested.id, 'the request does not allow reduced settings');
    if (this.status.status !== 'available') return rejected('reduce_requirements', requested.id, `${requested.id} is ${this.status.status}`);
    const w = this.requestedWait();
    const maxGen = req.maxWaitTimeSeconds !== undefined ? req.maxWaitTimeSeconds - w.totalWaitTimeSeconds : undefined;
    // Out of memory although the estimate fits: the real budget is below the estimate, so ask for less.
    const budget = input.vramBudgetGb !== undefined && situation === 'vram_exhaustion' && this.fitsVram ? this.requestedVram * 0.999 : input.vramBudgetGb;
    // Out of memory with no known budget: the reference's fixed reduction, checked against the time limit below.
    const limits = budget === undefined && situation === 'vram_exhaustion' ? {} : { vramBudgetGb: budget, maxGenerationSeconds: maxGen };
    const reduction = findReduction(requested, req, limits, input.config.reduction, input.config.estimation, input.learner);
    if (!reduction) {
      const fit = `${budget !== undefined ? ` ${budget.toFixed(1)} GB of VRAM` : ''}${maxGen !== undefined ? ` and ${formatDuration(Math.max(0, maxGen))}` : ''}`;
      return rejected('reduce_requirements', requested.id, `no smaller settings of ${requested.id} fit${fit}`);
    }
    const seconds = w.totalWaitTimeSeconds + reduction.generationSeconds;
    const slow = this.tooSlow(w.totalWaitTimeSeconds, seconds, st.maxWaitSeconds);
    if (slow) return rejected('reduce_requirements', requested.id, slow, seconds);
    return eligible({ type: 'reduce_requirements', model: requested.id, seconds, wait: w, reduction });
  }

  /** Turns the winning option into a strategy with its message. */
  private describe(p: OptionPlan, fallbackOptions: ConsideredOption[]): FallbackStrategy {
    const { requested } = this;
    const headline = this.headline();
    const out = this.strategy(p.type, p.model, p.seconds, fallbackOptions);
    if (p.wait) out.waitEstimate = p.wait;
    switch (p.type) {
      case 'as_requested':
        out.recommendedAction = `run ${requested.id} as requested`;
        out.canQueueRequest = true;
        out.confidenceScore = 0.95;
        out.userMessage = `${requested.id} is ready; result in about ${formatDuration(p.seconds)}.`;
        break;
      case 'alternative_model':
      case 'hybrid_approach': {
        const s = describeCandidate(requested, p.candidate!, this.rankingInput());
        const hybrid = p.type === 'hybrid_approach';
        out.alternativeModel = s.suggestedModel;
        out.alternative = s;
        out.canQueueRequest = hybrid;
        out.queueRequestedModel = hybrid;
        if (hybrid) {
          out.recommendedAction = `run on ${s.suggestedModel} now and keep the ${requested.id} job queued until the model is ready`;
          out.confidenceScore = Math.min(s.compatibilityScore, waitConfidence(p.wait!));
          out.userMessage =
            `${headline} Running ${s.suggestedModel} now for a first result in about ${formatDuration(p.seconds)}; ` +
            `the ${requested.id} result follows in about ${formatDuration(p.laterSeconds!)}.`;
        } else {
          const vramNote = p.lighter ? `, ${s.vramRequirementGb.toFixed(1)} GB of VRAM instead of ${this.requestedVram.toFixed(1)} GB` : '';
          out.recommendedAction = `run on ${s.suggestedModel} instead of ${requested.id}`;
          out.confidenceScore = s.compatibilityScore;
          out.userMessage =
            `${headline} Running on ${s.suggestedModel} instead (compatibility ${s.compatibilityScore.toFixed(2)}, ` +
            `${s.estimatedQualityDifference.replace('_', ' ')} quality${vramNote}); result in about ${formatDuration(p.seconds)}.`;
        }
        break;
      }
      case 'queue_and_wait':
        out.recommendedAction = `queue the request until ${requested.id} is ready`;
        out.canQueueRequest = true;
        out.confidenceScore = waitConfidence(p.wait!);
        out.userMessage = `${headline} Queued; ${requested.id} should start in about ${formatDuration(p.wait!.totalWaitTimeSeconds)} and finish in about ${formatDuration(p.seconds)}.`;
        break;
      case 'download_and_retry': {
        const w = p.wait!;
        const size = requested.sizeGb * GIB * (1 - (w.downloadProgress ?? 0));
        out.recommendedAction = `${this.status.status === 'paused' ? 'resume' : 'start'} the ${requested.id} download, then run it`;
        out.canQueueRequest = true;
        out.confidenceScore = waitConfidence(w);
        out.userMessage = `${headline} Downloading it (${formatBytes(size)}, about ${formatDuration(w.downloadTimeSeconds)}), then generating; result in about ${formatDuration(p.seconds)}.`;
        break;
      }
      case 'reduce_requirements': {
        const r = p.reduction!;
        const changes = r.adjustments.map((a) => `${a.field} ${a.from} → ${a.to}`).join(', ');
        out.recommendedAction = `run ${requested.id} with ${changes}`;
        out.confidenceScore = 0.7;
        out.requirementsAdjustments = r.adjustments;
        out.requirements = applyReduction(this.req, r);
        out.userMessage = `${headline} Running ${requested.id} with reduced settings (${changes}; ${r.vramGb.toFixed(1)} GB of VRAM); result in about ${formatDuration(p.seconds)}.`;
        break;
      }
      default:
        out.recommendedAction = 'render a labelled preview';
        out.confidenceScore = 0.9;
        out.isPreview = true;
        out.userMessage = `${headline} Nothing real can run within the request's limits, so you get a preview, clearly labelled, not a generated video.`;
    }
    return out;
  }

  /** A strategy with every field at its plain default; callers fill in what their type needs. */
  private strategy(type: StrategyType, model: string, seconds: number, fallbackOptions: ConsideredOption[]): FallbackStrategy {
    return {
      strategyType: type,
      situation: this.situation,
      model,
      recommendedAction: '',
      estimatedWaitTimeSeconds: seconds,
      userMessage: '',
      canQueueRequest: false,
      queueRequestedModel: false,
      confidenceScore: 1,
      fallbackOptions,
      requirementsAdjustments: [],
      requirements: this.req,
      isPreview: false,
    };
  }

  private rankingInput(): RankingInput {
    const { input } = this;
    return {
      catalog: input.catalog,
      requirements: input.requirements,
      availability: input.availability,
      vramBudgetGb: input.vramBudgetGb,
      learner: input.learner,
      scoring: input.config.scoring,
      estimation: input.config.estimation,
    };
  }

  private candidates(): ScoredCandidates {
    return (this.ranked ??= scoreCandidates(this.rankingInput()));
  }

  /** The best alternative that is available, scores at least `minScore` and, when `lighter`, needs less VRAM; else why not. */
  private pickAlternative(minScore: number, lighter: boolean): ScoredCandidate | string {
    if (!this.req.allowAlternatives) return 'the request does not allow alternative models';
    const { scored, excluded } = this.candidates();
    // One pass instead of a sort: the best eligible candidate, and the best overall for the explanation.
    let best: ScoredCandidate | undefined;
    let top: ScoredCandidate | undefined;
    for (const c of scored) {
      if (!top || compareCandidates(c, top) < 0) top = c;
      if (c.score < minScore || c.availability !== 'available' || (lighter && c.vramGb >= this.requestedVram)) continue;
      if (!best || compareCandidates(c, best) < 0) best = c;
    }
    if (best) return best;
    if (!top) {
      const shown = excluded.slice(0, 3).map((e) => e.reason);
      if (excluded.length > 3) shown.push(`${excluded.length - 3} more ruled out`);
      const why = shown.length ? ` (${shown.join('; ')})` : '';
      return `no model can stand in for ${this.requested.id}${why}`;
    }
    return `no available model${lighter ? ' needing less VRAM' : ''} scores ${minScore} or more (best: ${top.model.id} ${top.score.toFixed(2)}, ${top.availability})`;
  }

  /** Wait for the requested model; after a network error, the configured retry estimate at low confidence. */
  private requestedWait(networkRetry = false): EstimatedWaitTime {
    const { input } = this;
    this.wait ??= safeEstimateWaitTime({
      model: this.requested,
      status: this.status,
      queueAhead: input.queueAhead?.(this.requested.id) ?? 0,
      slots: input.slots,
      ...(input.forecastWait?.(this.requested.id) ? { forecast: input.forecastWait(this.requested.id)! } : {}),
      learner: input.learner,
      config: input.config.estimation,
    });
    if (!networkRetry) return this.wait;
    const seconds = input.config.networkErrorWaitSeconds;
    const cause = input.errorMessage ?? 'network error';
    return { ...this.wait, totalWaitTimeSeconds: seconds, confidence: 'low', factors: [`backend unreachable (${cause}); retrying in about ${formatDuration(seconds)}`] };
  }

  /** Seconds of queue ahead of a new job for `modelId`. */
  private queueSecondsFor(modelId: string): number {
    const { input } = this;
    const forecast = input.forecastWait?.(modelId);
    if (forecast) return forecast.startInSeconds;
    const ahead = input.queueAhead?.(modelId) ?? 0;
    if (ahead === 0) return 0;
    return (ahead * (input.learner?.jobSeconds?.mean ?? input.config.estimation.secondsPerQueuePosition)) / Math.max(1, input.slots ?? 1);
  }

  private generationSecondsOf(c: ScoredCandidate): number {
    return estimateGenerationSeconds(c.model, this.req, this.input.config.estimation, this.input.learner);
  }

  /** Why an option is too slow: its wait (before starting) over the step's limit, or its result over the user's. */
  private tooSlow(waitSeconds: number, totalSeconds: number, stepLimit?: number): string | undefined {
    const maxWait = this.req.maxWaitTimeSeconds;
    if (stepLimit !== undefined && waitSeconds > stepLimit) return `waits about ${formatDuration(waitSeconds)}, over this step's ${formatDuration(stepLimit)} limit`;
    if (maxWait !== undefined && totalSeconds > maxWait) return `takes about ${formatDuration(totalSeconds)}, over the ${formatDuration(maxWait)} the request allows`;
    return undefined;
  }

  private headline(): string {
    return describeSituation(this.situation, this.requested.id, this.status.status);
  }
}

/** Confidence that a plan waiting on `w` delivers when estimated. */
function waitConfidence(w: EstimatedWaitTime): number {
  return w.confidence === 'high' ? 0.9 : w.confidence === 'medium' ? 0.75 : 0.5;
}

function eligible(plan: OptionPlan, score?: number): Evaluation {
  const option: ConsideredOption = { type: plan.type, model: plan.model, estimatedSeconds: plan.seconds, chosen: false };
  if (score !== undefined) option.score = score;
  return { option, plan };
}

function rejected(type: StrategyType, model: string | undefined, whyNot: string, estimatedSeconds?: number, score?: number): Evaluation {
  const option: ConsideredOption = { type, chosen: false, whyNot };
  if (model !== undefined) option.model = model;
  if (score !== undefined) option.score = score;
  if (estimatedSeconds !== undefined) option.estimatedSeconds = estimatedSeconds;
  return { option };
}

function describeSituation(situation: Situation, model: string, status: string): string {
  switch (situation) {
    case 'available':
      return `${model} is ready.`;
    case 'not_downloaded':
      return status === 'unknown' ? `${model}'s files could not be checked.` : `${model} is ${status === 'missing' ? 'not downloaded' : status}.`;
    case 'download_in_progress':
      return `${model} is still downloading.`;
    case 'download_paused':
      return `${model}'s download is paused.`;
    case 'vram_exhaustion':
      return `${model} does not fit in GPU memory at these settings.`;
    case 'network_error':
      return `The backend for ${model} cannot be reached.`;
    case 'model_loading_failure':
      return `${model} failed to load.`;
    case 'generation_pipeline_error':
      return `The generation pipeline failed on ${model}.`;
    case 'hardware_optimization_failure':
      return `Hardware optimisation failed for ${model}.`;
    case 'system_resource_error':
      return `The machine is short of resources for ${model}.`;
  }
}
