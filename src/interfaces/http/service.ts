/**
 * The running service: the engine on its config, the HTTP server in front of it, and an orderly stop. Stopping
 * refuses new work at once (readiness 503, submissions 503), lets running jobs finish within the grace period while
 * status, events and outputs stay readable, gives the rest back to the durable queue, then closes the server.
 */
import type { FastifyInstance } from 'fastify';
import { createUnderstudy, type UnderstudyDependencies } from '../../composition/index.js';
import type { Understudy } from '../../runtime/understudy.js';
import { engineConfig, type ServiceConfig } from '../config.js';
import { assertSafeBind } from './bind-policy.js';
import { ApiError, sendApiError } from './errors.js';
import { buildServer } from './server.js';

/** A service that is listening. */
export interface RunningService {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  app: FastifyInstance;
  understudy: Understudy;
  /** Stops as described above; resolves once everything is closed. Later calls return the same promise. */
  stop(): Promise<void>;
}

/** Starts the engine and the server on `config`. Throws an UnsafeBindError before touching anything when the bind is unsafe. */
export async function startService(config: ServiceConfig, deps: UnderstudyDependencies = {}): Promise<RunningService> {
  assertSafeBind(config.host, config.token);
  const understudy = await createUnderstudy(engineConfig(config), deps);
  let state: 'starting' | 'ready' | 'draining' | 'closed' = 'starting';
  const app = await buildServer(understudy, {
    ...(config.token ? { token: config.token } : {}),
    rateLimit: config.rateLimit,
    ...(config.bodyLimitBytes ? { bodyLimitBytes: config.bodyLimitBytes } : {}),
    inputLimits: config.limits,
    logLevel: config.logLevel === 'silent' ? false : config.logLevel,
    isReady: () => state === 'ready',
  });
  app.addHook('onRequest', async (request, reply) => {
    if (state === 'ready' || request.url === '/healthz' || request.url === '/readyz') return;
    const refused = state === 'closed' || (request.method === 'POST' && request.url.startsWith('/v1/generations'));
    if (refused) return sendApiError(reply, new ApiError(503, 'shutting_down', 'the service is shutting down; retry on its next start', undefined, undefined, 5));
  });
  try {
    await understudy.start();
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    await understudy.close(0);
    throw error;
  }
  state = 'ready';
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      state = 'draining';
      await understudy.close(config.shutdownGraceSeconds * 1000);
      state = 'closed';
      await app.close();
    })();
    return stopping;
  };
  return { url: `http://${host}:${port}`, app, understudy, stop };
}
