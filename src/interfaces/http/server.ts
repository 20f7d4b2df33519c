/**
 * The HTTP server: every route of the API, the events WebSocket, metrics, the OpenAPI document and docs page, the
 * dashboard at `/`, bearer authentication, a per-client rate limit and a body limit, with one error shape for every
 * failure.
 */
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { DEFAULT_INPUT_LIMITS, generationInputSchema, type GenerationInputLimits } from '../../runtime/generation-input.js';
import type { Understudy } from '../../runtime/understudy.js';
import { DASHBOARD_PATHS, Dashboard } from '../dashboard/dashboard.js';
import { OPEN_PATHS, installBearerAuth } from './auth.js';
import { ApiError, installErrorHandlers } from './errors.js';
import { installEventsWebSocket } from './events-websocket.js';
import { installMetrics } from './metrics.js';
import { buildOpenApiDocument, installOpenApi } from './openapi.js';
import { QueueTotalsCache } from './queue-totals.js';
import { registerRoutes } from './route.js';
import { generationRoutes } from './routes-generations.js';
import { modelRoutes } from './routes-models.js';
import { systemRoutes } from './routes-system.js';

/** Requests one client may make in a window; `max: 0` turns the limit off. */
export interface RateLimitOptions {
  max: number;
  timeWindowMs: number;
}

/** How the server is built. */
export interface ServerOptions {
  /** Bearer token every route but /healthz and /readyz requires; undefined: no authentication. */
  token?: string;
  /** Default 600 requests per minute per client address. */
  rateLimit?: RateLimitOptions;
  /** Largest request body, bytes (default: room for the largest image as base64, plus 64 KiB). */
  bodyLimitBytes?: number;
  /** The limits the engine validates submissions with (documented in the OpenAPI document). */
  inputLimits?: GenerationInputLimits;
  /** Pino log level, or false for no log (default false). */
  logLevel?: string | false;
  /** Whether the service takes work; /readyz answers 503 while it does not (default: always). */
  isReady?: () => boolean;
}

/** The default rate limit: 600 requests per minute per client address. */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { max: 600, timeWindowMs: 60_000 };

/** Room for an image of `maxImageBytes` in base64 plus the rest of a request. */
export function defaultBodyLimit(limits: GenerationInputLimits): number {
  return Math.ceil((limits.maxImageBytes * 4) / 3) + 64 * 1024;
}

/** Builds the server (not listening yet): call `listen` on the result, or use `startService`. */
export async function buildServer(understudy: Understudy, options: ServerOptions = {}): Promise<FastifyInstance> {
  const limits = options.inputLimits ?? DEFAULT_INPUT_LIMITS;
  const app = Fastify({
    logger: options.logLevel ? { level: options.logLevel } : false,
    bodyLimit: options.bodyLimitBytes ?? defaultBodyLimit(limits),
  });
  installErrorHandlers(app);
  // First: its onRequest hook marks upgrade requests, so that a refused upgrade (401, 429) closes its socket.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  if (options.token) installBearerAuth(app, options.token, new Set([...OPEN_PATHS, ...DASHBOARD_PATHS]));
  const limit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  if (limit.max > 0) {
    await app.register(rateLimit, {
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      allowList: (request) => request.url === '/healthz' || request.url === '/readyz',
      errorResponseBuilder: (_request, context) =>
        new ApiError(429, 'rate_limited', `more than ${context.max} requests in ${context.after}; retry later`, undefined, undefined, context.ttl / 1000),
    });
  }

  const queue = new QueueTotalsCache(understudy);
  app.addHook('onClose', async () => queue.dispose());
  const dashboard = new Dashboard(understudy);
  app.addHook('onClose', async () => dashboard.dispose());
  const routes = [
    ...generationRoutes(understudy, generationInputSchema(limits)),
    ...modelRoutes(understudy),
    ...systemRoutes(understudy, queue, options.isReady ?? (() => true)),
    ...dashboard.routes,
  ];
  registerRoutes(app, routes);
  installEventsWebSocket(app, understudy);
  installMetrics(app, understudy);
  await dashboard.install(app);
  installOpenApi(app, buildOpenApiDocument(routes, { secured: Boolean(options.token) }));
  return app;
}
