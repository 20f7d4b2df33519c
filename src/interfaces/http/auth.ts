import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError, sendApiError } from './errors.js';

/** Paths that answer without a token: liveness and readiness probes. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * Prefix of the WebSocket subprotocol that carries the token, for browsers, which cannot set headers on an upgrade:
 * `new WebSocket(url, ['understudy.v1', 'understudy.bearer.' + base64url(token)])`. The token stays out of the URL,
 * which proxies and access logs record (the same scheme as Kubernetes' `base64url.bearer.authorization.k8s.io.`).
 */
export const BEARER_PROTOCOL_PREFIX = 'understudy.bearer.';

/**
 * Requires `Authorization: Bearer <token>` on every route but `openPaths` (default {@link OPEN_PATHS}); a WebSocket
 * upgrade may carry it as a {@link BEARER_PROTOCOL_PREFIX} subprotocol instead. The comparison takes the same time
 * whatever the token sent: both sides are hashed to equal-length digests first.
 */
export function installBearerAuth(app: FastifyInstance, token: string, openPaths: ReadonlySet<string> = OPEN_PATHS): void {
  const expected = digest(token);
  app.addHook('onRequest', async (request, reply) => {
    if (openPaths.has(request.url.split('?')[0]!)) return;
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
    const sent = match ? match[1]!.trim() : protocolToken(request.headers.upgrade, request.headers['sec-websocket-protocol']);
    if (sent !== undefined && timingSafeEqual(digest(sent), expected)) return;
    reply.header('www-authenticate', 'Bearer realm="understudy"');
    return sendApiError(
      reply,
      new ApiError(401, 'unauthorized', sent !== undefined ? 'the bearer token is wrong' : 'this server requires Authorization: Bearer <token>'),
    );
  });
}

/** The token of a WebSocket upgrade's bearer subprotocol, if it has one. */
function protocolToken(upgrade: string | undefined, protocols: string | undefined): string | undefined {
  if (upgrade?.toLowerCase() !== 'websocket' || !protocols) return undefined;
  const entry = protocols.split(',').map((p) => p.trim()).find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  return entry === undefined ? undefined : Buffer.from(entry.slice(BEARER_PROTOCOL_PREFIX.length), 'base64url').toString('utf8');
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
