/**
 * Read-only routes the dashboard needs beyond the rest of the API: the backends with their GPU memory, loaded
 * models, circuit breakers and cooldowns (`GET /v1/backends`); the last hour of activity with the jobs by state
 * (`GET /v1/activity`); and the queue positions of given jobs (`GET /v1/queue/positions`).
 */
import type { z } from 'zod';
import { FAILURE_TYPES } from '../../core/vocabulary.js';
import type { Understudy } from '../../runtime/understudy.js';
import { defineRoute, type ApiRoute } from '../http/route.js';
import type { ActivityHistory } from './activity-history.js';
import {
  ActivitySchema,
  BackendsSchema,
  PositionsQuerySchema,
  PositionsSchema,
  type ActivityView,
  type BackendsView,
  type PositionsView,
} from './status-schemas.js';

/** The status routes of the dashboard. */
export function statusRoutes(understudy: Understudy, history: ActivityHistory): ApiRoute[] {
  const { recovery } = understudy;
  return [
    defineRoute({
      method: 'GET',
      url: '/v1/backends',
      tag: 'system',
      summary: 'Backends: GPU memory, loaded models, circuit breakers and cooldowns',
      responses: { 200: { description: 'Every backend', schema: BackendsSchema } },
      handler: async (): Promise<BackendsView> => {
        const breakers = recovery.getBreakerStates();
        const backends = await Promise.all(
          understudy.backends.map(async (backend) => {
            const read = await Promise.all([backend.vram(), backend.loadedModels()]).then(
              ([vram, loadedModels]) => ({ vram, loadedModels }),
              (error: unknown) => ({ vram: null, loadedModels: [], error: error instanceof Error ? error.message : String(error) }),
            );
            const { vram, loadedModels } = read;
            const own = breakers.find((b) => b.backendId === backend.id && b.modelId === undefined);
            return {
              id: backend.id,
              slots: backend.slots,
              vram: vram ? { totalGb: vram.totalGb, usedGb: vram.usedGb } : null,
              loadedModels: [...loadedModels],
              breaker: own
                ? { state: own.state, consecutiveFailures: own.consecutiveFailures, reopensAt: own.reopensAt }
                : { state: 'closed' as const, consecutiveFailures: 0, reopensAt: null },
              modelBreakers: breakers
                .filter((b) => b.backendId === backend.id && b.modelId !== undefined)
                .map((b) => ({ modelId: b.modelId!, state: b.state, consecutiveFailures: b.consecutiveFailures, reopensAt: b.reopensAt })),
              cooldowns: FAILURE_TYPES.map((failureType) => ({
                failureType,
                remainingSeconds: recovery.getCooldownRemaining(failureType, { backendId: backend.id }),
              })).filter((c) => c.remainingSeconds > 0),
              ...('error' in read ? { error: read.error } : {}),
            };
          }),
        );
        return { backends, mockModeActive: recovery.mockModeActive };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/activity',
      tag: 'system',
      summary: 'The last hour a minute at a time: accepted and finished jobs, queue depth; jobs by state now',
      responses: { 200: { description: 'Activity', schema: ActivitySchema } },
      handler: async (): Promise<ActivityView> => {
        const [buckets, counts] = await Promise.all([history.read(), understudy.jobCounts()]);
        return { bucketMs: history.bucketMs, buckets, counts };
      },
    }),
    defineRoute<undefined, z.output<typeof PositionsQuerySchema>>({
      method: 'GET',
      url: '/v1/queue/positions',
      tag: 'system',
      summary: 'Queue positions of generations',
      query: PositionsQuerySchema,
      responses: { 200: { description: 'Positions by id', schema: PositionsSchema } },
      handler: async ({ query }): Promise<PositionsView> => {
        const entries = await Promise.all(query.ids.map(async (id) => [id, await understudy.queuePosition(id)] as const));
        return { positions: Object.fromEntries(entries) };
      },
    }),
  ];
}
