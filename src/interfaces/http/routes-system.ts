/** The queue, the machine's health, recovery statistics, and the liveness and readiness probes. */
import { z } from 'zod';
import { WorkerHeartbeatSchema, type Understudy } from '../../runtime/understudy.js';
import { ApiError } from './errors.js';
import type { QueueTotalsCache } from './queue-totals.js';
import { defineRoute, type ApiRoute } from './route.js';
import { HealthViewSchema } from './record-schemas.js';
import { ErrorBodySchema, QueueStatusSchema, RecordSchema } from './schemas.js';
import { healthView } from './views.js';

const ProbeSchema = z.object({ status: z.enum(['ok', 'ready']) });

/** The job store as /readyz reports it. */
const StoreStatusSchema = z.object({
  kind: z.enum(['sqlite', 'redis']),
  location: z.string().describe('Where it is; a Redis URL never shows its password'),
  reachable: z.boolean(),
  volatile: z.boolean().describe('True when it can lose accepted jobs (a Redis allowed by --allow-volatile-redis)'),
  problems: z.array(z.string()),
});

const ReadySchema = z.object({
  status: z.literal('ready'),
  store: StoreStatusSchema,
  warning: z.string().optional().describe('Present when the store can lose accepted jobs'),
});

const WorkersSchema = z.object({
  workers: z.array(WorkerHeartbeatSchema).describe('Each live worker with its backends, as its last heartbeat said, by worker id'),
});

/** The answer of `GET /v1/workers`. */
export type WorkersView = z.output<typeof WorkersSchema>;

/**
 * The system routes; `queue` serves the queue totals, `isReady` tells whether the service takes work (false while
 * starting or shutting down).
 */
export function systemRoutes(understudy: Understudy, queue: QueueTotalsCache, isReady: () => boolean): ApiRoute[] {
  const { recovery } = understudy;
  return [
    defineRoute({
      method: 'GET',
      url: '/v1/queue',
      tag: 'system',
      summary: 'Jobs waiting, in all and by model',
      responses: { 200: { description: 'Queue totals', schema: QueueStatusSchema } },
      handler: async () => queue.read(),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/health',
      tag: 'system',
      summary: "The machine's health, checked now",
      responses: { 200: { description: 'A SystemHealthStatus', schema: HealthViewSchema } },
      handler: async () => healthView(await recovery.getSystemHealthStatus()),
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/recovery/stats',
      tag: 'system',
      summary: 'Recovery attempts and outcomes since start or the last reset',
      responses: { 200: { description: 'RecoveryStatistics: totalAttempts, successRate, attemptsByAction, degradedMode, ...', schema: RecordSchema } },
      handler: async () => recovery.getRecoveryStatistics(),
    }),
    defineRoute({
      method: 'POST',
      url: '/v1/recovery/reset',
      tag: 'system',
      summary: 'Clear cooldowns, circuit breakers, preview mode and statistics',
      responses: { 200: { description: 'The statistics after the reset', schema: RecordSchema } },
      handler: async () => {
        recovery.resetRecoveryState();
        return recovery.getRecoveryStatistics();
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/healthz',
      tag: 'probes',
      summary: 'Liveness: the process answers (no token needed)',
      responses: { 200: { description: 'Alive', schema: ProbeSchema } },
      handler: async () => ({ status: 'ok' }),
    }),
    defineRoute({
      method: 'GET',
      url: '/readyz',
      tag: 'probes',
      summary: 'Readiness: the service takes work (no token needed)',
      responses: { 200: { description: 'Ready, with the job store', schema: ReadySchema }, 503: { description: 'Starting, shutting down, or the job store is unreachable', schema: ErrorBodySchema } },
      handler: async () => {
        if (!isReady()) throw new ApiError(503, 'not_ready', 'the service is starting or shutting down');
        const store = await understudy.storeStatus();
        if (!store.reachable) throw new ApiError(503, 'store_unavailable', `the job store at ${store.location} is unreachable`, undefined, { store }, 5);
        return { status: 'ready' as const, store, ...(store.volatile ? { warning: `this store can lose accepted jobs: ${store.problems.join('; ')}` } : {}) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/v1/workers',
      tag: 'system',
      summary: 'The live workers and their backends (with the embedded store: this process)',
      responses: { 200: { description: 'Live workers, by id', schema: WorkersSchema } },
      handler: async (): Promise<WorkersView> => ({ workers: await understudy.workers() }),
    }),
  ];
}
