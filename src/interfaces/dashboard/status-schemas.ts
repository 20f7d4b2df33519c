/** Schemas of the dashboard's status routes (routes-status.ts); the page imports their types. */
import { z } from 'zod';

/** A circuit breaker as it stands. */
export const BreakerSchema = z.object({
  state: z.enum(['closed', 'open', 'half_open']),
  consecutiveFailures: z.number().int(),
  reopensAt: z.number().nullable().describe('When an open breaker half-opens, epoch ms'),
});

/** `GET /v1/backends`. */
export const BackendsSchema = z.object({
  backends: z.array(
    z.object({
      id: z.string(),
      slots: z.number().int(),
      vram: z.object({ totalGb: z.number(), usedGb: z.number() }).nullable().describe('null for a backend without a GPU'),
      loadedModels: z.array(z.string()),
      breaker: BreakerSchema.describe("The backend's circuit breaker"),
      modelBreakers: z.array(BreakerSchema.extend({ modelId: z.string() })).describe('Breakers of models on this backend that have seen a failure'),
      cooldowns: z.array(z.object({ failureType: z.string(), remainingSeconds: z.number() })).describe('Failure types recovery waits out on this backend'),
      error: z.string().optional().describe('Why the backend could not be read'),
    }),
  ),
  mockModeActive: z.boolean(),
});
export type BackendsView = z.infer<typeof BackendsSchema>;

/** `GET /v1/activity`. */
export const ActivitySchema = z.object({
  bucketMs: z.number().int(),
  buckets: z
    .array(
      z.object({
        start: z.number().describe('Epoch ms'),
        accepted: z.number().int(),
        succeeded: z.number().int(),
        unsuccessful: z.number().int().describe('Failed, cancelled or expired'),
        queueDepth: z.number().int().nullable().describe('Largest depth sampled in the bucket; null when none was'),
      }),
    )
    .describe('Oldest first, since the server started, at most an hour'),
  counts: z.record(z.string(), z.number().int()).describe('Generations by state, now'),
});
export type ActivityView = z.infer<typeof ActivitySchema>;

/** Query of `GET /v1/queue/positions`. */
export const PositionsQuerySchema = z.strictObject({
  ids: z
    .string()
    .min(1)
    .transform((v) => v.split(',').filter(Boolean))
    .pipe(z.array(z.string().min(1).max(200)).max(1000))
    .describe('Comma-separated generation ids, at most 1,000'),
});

/** `GET /v1/queue/positions`. */
export const PositionsSchema = z.object({
  positions: z.record(z.string(), z.number().int().nullable()).describe('1-based place in the queue; null when not queued'),
});
export type PositionsView = z.infer<typeof PositionsSchema>;
