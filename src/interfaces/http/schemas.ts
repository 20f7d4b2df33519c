/**
 * The HTTP API's own schemas: query strings, the fallback-strategy body, and the shapes of the responses. Requests
 * are validated with them and the OpenAPI document is generated from them, so the two cannot disagree; response
 * builders are typed with the inferred types, so the documented shapes are the ones sent.
 */
import { z } from 'zod';
import { ResolutionSchema } from '../../core/catalog.js';
import { GenerationRequirementsSchema } from '../../core/requirements.js';
import { FAILURE_TYPES, QUALITIES, SPEEDS } from '../../core/vocabulary.js';
import { JOB_STATES } from '../../runtime/job.js';
import { withRequestAliases } from './field-aliases.js';
import { PlanViewSchema } from './record-schemas.js';

export type { PlanView } from './record-schemas.js';

/** `?image=true` and friends: the strings `true` and `false`. */
const BooleanString = z.enum(['true', 'false']).transform((v) => v === 'true');

/** Path parameter of a generation. */
export const JobIdParamsSchema = z.object({ id: z.string().min(1).max(200).describe('Generation id') });

/** Path parameter of a model. */
export const ModelIdParamsSchema = z.object({ id: z.string().min(1).max(200).describe('Model id, e.g. t2v-A14B') });

/** Query of `GET /v1/generations`. */
export const ListGenerationsQuerySchema = z.strictObject({
  status: z.enum(JOB_STATES).optional().describe('Only generations in this state'),
  limit: z.coerce.number().int().min(1).max(1000).default(50).describe('Most generations returned'),
  cursor: z.string().min(1).max(200).optional().describe('nextCursor of the previous page'),
});

/** Query of `GET /v1/models/:id/alternatives`: the requirements to rank stand-ins for. */
export const AlternativesQuerySchema = z.strictObject({
  resolution: ResolutionSchema.optional().describe('WIDTHxHEIGHT (default 1280x720)'),
  quality: z.enum(QUALITIES).optional().describe('Default medium'),
  speed: z.enum(SPEEDS).optional().describe('Default medium'),
  image: BooleanString.optional().describe('true when the request carries an input image'),
});

/** Body of `POST /v1/fallback-strategy`. */
export const FallbackStrategyBodySchema = z.strictObject({
  model: z.string().min(1).describe('Requested model id'),
  failureType: z.enum(FAILURE_TYPES).optional().describe('The failure to plan around; omitted: plan from availability'),
  errorMessage: z.string().max(4000).optional().describe('The error seen, for the plan message'),
  requirements: withRequestAliases(GenerationRequirementsSchema.omit({ modelType: true }).strict()).prefault({}).describe('What the request needs'),
});

/** One problem with a request. */
export const ErrorDetailSchema = z.object({
  field: z.string().describe('Path of the bad field, e.g. numFrames'),
  problem: z.string().describe('What is wrong and what is allowed'),
  received: z.unknown().optional().describe('The value received'),
});
export type ErrorDetail = z.infer<typeof ErrorDetailSchema>;

/** Every error response. */
export const ErrorBodySchema = z.object({
  error: z
    .looseObject({
      code: z.string().describe('Stable code, e.g. invalid_request, queue_full, plan_rejected'),
      message: z.string(),
      details: z.array(ErrorDetailSchema).optional(),
    })
    .describe('Other fields may follow: plan (422), size and maxSize (429 queue_full), status (409)'),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** A job's current estimate, kept up to date as the queue moves (`job.estimate` events announce changes). */
export const EstimateSchema = z.object({
  estimatedAt: z.number().describe('Epoch milliseconds the estimate was made'),
  startAt: z.number().nullable().describe('Epoch milliseconds the job is expected to start (or started); null when nothing can run it now'),
  resultAt: z.number().nullable().describe('Epoch milliseconds its result is expected; null when nothing can run it now'),
  confidence: z.enum(['high', 'medium', 'low']).describe('From how much of the estimate rests on measured rather than assumed figures'),
  factors: z.array(z.string()).describe('The figures behind it, in plain words'),
  backendId: z.string().optional().describe('The backend the forecast puts it on'),
});

/** The 202 answer to a submission. */
export const AcceptedSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATES),
  plan: PlanViewSchema,
  queuePosition: z.number().int().nullable().describe('1-based place in the queue of the job that runs first; null when it waits for a model'),
  alternativeId: z
    .string()
    .optional()
    .describe('hybrid_approach only: the generation on the alternative model, which runs first, while this one waits for the requested model'),
  estimate: EstimateSchema.optional().describe('The first estimate of the job that runs first'),
});
export type Accepted = z.infer<typeof AcceptedSchema>;

const TimelineEntrySchema = z.object({
  at: z.number().describe('Epoch milliseconds'),
  kind: z.string(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** A generation as the API shows it. */
export const JobViewSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATES),
  requestedModel: z.string(),
  modelUsed: z.string(),
  waitingFor: z.string().nullable(),
  priority: z.string(),
  prompt: z.string(),
  hasImage: z.boolean(),
  requirements: z.record(z.string(), z.unknown()),
  plan: PlanViewSchema,
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  progress: z.number().describe('0 to 1, of the current attempt'),
  progressMessage: z.string().nullable(),
  createdAt: z.number().describe('Epoch milliseconds'),
  updatedAt: z.number().describe('Epoch milliseconds'),
  deadline: z.number().nullable().describe('Epoch milliseconds after which a job that has not started expires'),
  output: z
    .object({ url: z.string(), mediaType: z.string(), sizeBytes: z.number(), isPreview: z.boolean() })
    .nullable()
    .describe('Set once the generation succeeded'),
  error: z.object({ failureType: z.string().optional(), message: z.string() }).nullable(),
  timeline: z.array(TimelineEntrySchema),
  estimate: EstimateSchema.nullable().describe('While waiting or running: when it starts and when its result is expected; null once finished'),
  parentJobId: z.string().optional(),
  hybridOf: z.string().optional(),
});
export type JobView = z.infer<typeof JobViewSchema>;

/** A page of generations. */
export const JobPageSchema = z.object({
  generations: z.array(JobViewSchema).describe('In acceptance order, oldest first'),
  total: z.number().int().describe('Generations matching the filter, on every page'),
  nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page'),
});
export type JobPageView = z.infer<typeof JobPageSchema>;

/** Queue totals. */
export const QueueStatusSchema = z.object({
  totalQueuedRequests: z.number().int(),
  queueByModel: z.record(z.string(), z.number().int()),
  maxQueueSize: z.number().int(),
  queueUtilization: z.number().describe('Percent of the queue in use'),
});

/** A catalog model with its availability. */
export const ModelViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  inputs: z.object({ text: z.string(), image: z.string() }).describe('required, optional or unsupported'),
  capabilities: z.array(z.string()),
  qualityRank: z.number(),
  baseVramGb: z.number(),
  sizeGb: z.number(),
  baseSeconds: z.number(),
  status: z.string().describe('available, downloading, missing, corrupted, paused, failed, unknown, ...'),
  detail: z.string().nullable().describe('Why the model is corrupted or failed'),
  download: z
    .object({
      bytesDone: z.number(),
      bytesTotal: z.number(),
      progress: z.number().describe('0 to 1'),
      bytesPerSecond: z.number().nullable(),
    })
    .nullable()
    .describe('Set while files are on their way or partly present'),
});
export type ModelView = z.infer<typeof ModelViewSchema>;

/** Loose shape of the engine's records (statistics, downloads, verification) in the docs. */
export const RecordSchema = z.record(z.string(), z.unknown());
