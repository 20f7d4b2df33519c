/**
 * The dashboard: the page at `/` with its script and styles (no token needed to load them; the page asks for the
 * token and sends it on every API call), and the read-only status routes it reads (see routes-status.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Understudy } from '../../runtime/understudy.js';
import type { ApiRoute } from '../http/route.js';
import { ActivityHistory } from './activity-history.js';
import { dashboardBundle, type Asset, type DashboardBundle } from './bundle.js';
import { statusRoutes } from './routes-status.js';

/** Paths of the page and its files; they carry no data, so they answer without a token. */
export const DASHBOARD_PATHS: ReadonlySet<string> = new Set(['/', '/dashboard/app.js', '/dashboard/app.css']);

/** Same-origin only: no inline script, no other host, media from this server or blob: URLs of fetched outputs. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

/** The dashboard of one server. */
export class Dashboard {
  /** The API routes the page needs beyond the rest of the API (documented in the OpenAPI document with them). */
  readonly routes: ApiRoute[];
  private readonly history: ActivityHistory;

  constructor(understudy: Understudy) {
    this.history = new ActivityHistory(understudy);
    this.routes = statusRoutes(understudy, this.history);
  }

  /** Builds the client (once per process) and serves the page and its files. */
  async install(app: FastifyInstance): Promise<void> {
    const bundle: DashboardBundle = await dashboardBundle();
    const serve = (asset: Asset, extra: Record<string, string> = {}) => async (request: FastifyRequest, reply: FastifyReply) => send(request, reply, asset, extra);
    app.get('/', serve(bundle.html, { 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' }));
    app.get('/dashboard/app.js', serve(bundle.js));
    app.get('/dashboard/app.css', serve(bundle.css));
  }

  /** Stops following the engine's events. */
  dispose(): void {
    this.history.dispose();
  }
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset, extra: Record<string, string>): FastifyReply {
  reply.headers({ 'content-type': asset.contentType, etag: asset.etag, 'cache-control': 'no-cache', vary: 'accept-encoding', ...extra });
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  const gzip = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
  if (gzip) reply.header('content-encoding', 'gzip');
  return reply.send(gzip ? asset.gzipped : asset.body);
}
