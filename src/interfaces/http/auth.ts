import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError, sendApiError } from './errors.js';

/** Paths that answer without a token: liveness and readiness probes. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * Requires `Authorization: Bearer <token>` on every route but {@link OPEN_PATHS} (the WebSocket upgrade included).
 * The comparison takes the same time whatever the token sent: both sides are hashed to equal-length digests first.
 */
export function installBearerAuth(app: FastifyInstance, token: string): void {
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    if (OPEN_PATHS.has(request.url.split('?')[0]!)) return;
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
    if (match && timingSafeEqual(digest(match[1]!.trim()), expected)) return;
    reply.header('www-authenticate', 'Bearer realm="understudy"');
    return sendApiError(
      reply,
      new ApiError(401, 'unauthorized', header ? 'the bearer token is wrong' : 'this server requires Authorization: Bearer <token>'),
    );
  });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
