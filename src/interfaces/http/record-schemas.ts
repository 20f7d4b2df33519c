/**
 * The reference's records as the API shows them: EstimatedWaitTime, SystemHealthStatus, ModelSuggestion and
 * FallbackStrategy (the plan), under the reference's field names (camelCase, durations in seconds with a `Seconds`
 * suffix) with our extra fields beside them. A field the API documented under an older name is sent under that name
 * too, marked deprecated, for one release.
 */
import { z } from 'zod';
import { HEALTH_RESOURCES } from '../../core/health-assessment.js';
import { GenerationRequirementsSchema } from '../../core/requirements.js';
import { MODEL_AVAILABILITIES, MODEL_CAPABILITIES } from '../../core/vocabulary.js';

/** API version of the documents: 1.1 added the reference's field names and deprecated the old ones. */
export const API_VERSION = '1.1.0';

/** A response field kept under its old name for one release: the same value as `replacement`, marked deprecated. */
export function deprecatedAlias<T extends z.ZodType>(schema: T, replacement: string): T {
  return schema.meta({
    deprecated: true,
    description: `Deprecated since API 1.1, removed in the next release: the same value as ${replacement}`,
  });
}

const ConfidenceSchema = z.enum(['low', 'medium', 'high']);

/** EstimatedWaitTime: how long until a model can serve a new request. */
export const EstimatedWaitTimeSchema = z.object({
  modelId: z.string(),
  downloadTimeSeconds: z.number().describe('Seconds of download left'),
  queuePosition: z.number().int().nullable().describe('1-based place a new request would take; null when estimation failed'),
  queueWaitTimeSeconds: z.number().describe('Seconds of queue ahead of it'),
  totalWaitTimeSeconds: z.number().describe('Seconds until it could start: download left plus the queue ahead'),
  confidence: ConfidenceSchema,
  factors: z.array(z.string()).describe('The figures behind the estimate, in plain words'),
  downloadProgress: z.number().optional().describe('0 to 1, while a download is under way or partial'),
});

/** The answer of `GET /v1/models/:id/wait-time`. */
export const WaitTimeViewSchema = EstimatedWaitTimeSchema.extend({
  estimatedSeconds: deprecatedAlias(z.number(), 'totalWaitTimeSeconds'),
  downloadSeconds: deprecatedAlias(z.number(), 'downloadTimeSeconds'),
  queueSeconds: deprecatedAlias(z.number(), 'queueWaitTimeSeconds'),
});
export type WaitTimeView = z.infer<typeof WaitTimeViewSchema>;

const UsagePercentSchema = z.number().nullable().describe('0 to 100; null when it could not be read');

/** SystemHealthStatus, the answer of `GET /v1/health`. */
export const HealthViewSchema = z.object({
  overallStatus: z.enum(['healthy', 'degraded', 'critical']),
  cpuUsagePercent: UsagePercentSchema,
  memoryUsagePercent: UsagePercentSchema,
  vramUsagePercent: UsagePercentSchema.describe("The fullest GPU's memory, 0 to 100; null without GPU memory information"),
  gpuAvailable: z.boolean(),
  modelLoadingFunctional: z.boolean().describe('False while a model loading failure stands unrepaired'),
  generationPipelineFunctional: z.boolean().describe('False while a generation pipeline error stands unrepaired'),
  lastCheckTimestamp: z.number().describe('Epoch milliseconds of the check'),
  issues: z.array(z.string()),
  recommendations: z.array(z.string()),
  diskFreeBytes: z.number().nullable(),
  vram: z.object({ device: z.string(), usedGb: z.number(), totalGb: z.number() }).nullable().describe('The fullest GPU'),
  findings: z
    .array(z.object({ resource: z.enum(HEALTH_RESOURCES), level: z.enum(['high', 'critical']), issue: z.string(), recommendation: z.string() }))
    .describe('One per threshold crossed or function not working'),
  overall: deprecatedAlias(z.enum(['healthy', 'degraded', 'critical']), 'overallStatus'),
  cpuPercent: deprecatedAlias(z.number().nullable(), 'cpuUsagePercent'),
  memoryPercent: deprecatedAlias(z.number().nullable(), 'memoryUsagePercent'),
});
export type HealthView = z.infer<typeof HealthViewSchema>;

const ScorePartSchema = z.object({ value: z.number(), weight: z.number() });

/** ModelSuggestion: a stand-in for the requested model, with what decided its score. */
export const ModelSuggestionSchema = z.object({
  suggestedModel: z.string(),
  compatibilityScore: z.number().describe('0 to 1'),
  performanceDifference: z.number().describe('(candidate quality rank - requested rank) / requested rank'),
  availabilityStatus: z.enum(MODEL_AVAILABILITIES),
  reason: z.string(),
  estimatedQualityDifference: z.enum(['similar', 'slightly_lower', 'significantly_lower']),
  capabilitiesMatch: z.array(z.enum(MODEL_CAPABILITIES)),
  capabilitiesMissing: z.array(z.enum(MODEL_CAPABILITIES)),
  vramRequirementGb: z.number(),
  estimatedGenerationTimeSeconds: z.number(),
  factors: z
    .object({ compatibility: ScorePartSchema, capabilities: ScorePartSchema, requirements: ScorePartSchema.extend({ applied: z.array(z.string()) }) })
    .describe('The three parts of the score'),
  isPreview: z.boolean().describe('True only for the labelled preview given when no model qualifies'),
});

/** The answer of `GET /v1/models/:id/alternatives`. */
export const AlternativesViewSchema = z.object({
  requestedModel: z.string(),
  suggestions: z.array(ModelSuggestionSchema).describe('Best first'),
  excluded: z.array(
    z.object({
      model: z.string(),
      constraint: z.enum(['input', 'vram', 'score']),
      reason: z.string(),
      compatibilityScore: z.number().optional(),
    }),
  ),
});
export type AlternativesView = z.infer<typeof AlternativesViewSchema>;

const RequirementAdjustmentSchema = z.object({
  field: z.enum(['resolution', 'numFrames', 'steps', 'quality']),
  from: z.union([z.string(), z.number()]),
  to: z.union([z.string(), z.number()]),
  reason: z.string(),
});

const ConsideredOptionSchema = z.object({
  type: z.string().describe('A fallback type, as_requested or reject'),
  model: z.string().optional(),
  score: z.number().optional(),
  minScore: z.number().optional(),
  estimatedSeconds: z.number().optional(),
  chosen: z.boolean(),
  whyNot: z.string().optional(),
});

/** FallbackStrategy's fields, shared by the plan of a generation and the answer of `POST /v1/fallback-strategy`. */
const StrategyFieldsSchema = z.object({
  strategyType: z.string().describe('as_requested, a fallback type (alternative_model, queue_and_wait, ...) or reject'),
  recommendedAction: z.string().describe('What the engine does, in plain words'),
  alternativeModel: z.string().nullable().describe('The model that runs instead of (hybrid: before) the requested one'),
  estimatedWaitTimeSeconds: z.number().describe('Seconds until the first result: waiting plus generation'),
  userMessage: z.string(),
  canQueueRequest: z.boolean().describe('Whether the request can be kept queued for the requested model'),
  confidenceScore: z.number().describe('0 to 1'),
  fallbackOptions: z.array(ConsideredOptionSchema).describe('Every option weighed, in policy order, and why each lost'),
  requirementsAdjustments: z.array(RequirementAdjustmentSchema),
  situation: z.string().describe('What the plan answers: the availability of the model or a failure type'),
  model: z.string().describe('The model that runs first; preview for a labelled preview'),
  isPreview: z.boolean().describe('True when the first result is a labelled preview'),
});

/** The plan of a generation. */
export const PlanViewSchema = StrategyFieldsSchema.extend({
  strategy: deprecatedAlias(z.string(), 'strategyType'),
  confidence: deprecatedAlias(z.number(), 'confidenceScore'),
  estimatedWaitSeconds: deprecatedAlias(z.number(), 'estimatedWaitTimeSeconds'),
});
export type PlanView = z.infer<typeof PlanViewSchema>;

/** The answer of `POST /v1/fallback-strategy`, and the `plan` of a 422: the whole strategy. */
export const FallbackStrategyViewSchema = StrategyFieldsSchema.extend({
  alternative: ModelSuggestionSchema.nullable().describe('The alternative behind alternativeModel'),
  waitEstimate: EstimatedWaitTimeSchema.nullable().describe('The wait for the requested model, when the plan waits for it'),
  queueRequestedModel: z.boolean().describe("hybrid_approach: the requested model's job stays queued until it is ready"),
  requirements: GenerationRequirementsSchema.describe('The requirements the engine runs with (adjusted when reduced)'),
  confidence: deprecatedAlias(z.number(), 'confidenceScore'),
});
export type FallbackStrategyView = z.infer<typeof FallbackStrategyViewSchema>;
