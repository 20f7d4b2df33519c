/**
 * One API operation, declared once: its path, the zod schemas of its input and responses, and its handler. The
 * server registers the handler; the OpenAPI document is generated from the same declaration.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { parseOrThrow } from '../../core/validation.js';

/** A documented response. */
export interface ResponseSpec {
  description: string;
  /** JSON body; omitted for non-JSON bodies (see `contentType`). */
  schema?: z.ZodType;
  /** Media type of a non-JSON body, e.g. `text/plain`. */
  contentType?: string;
  /** Response headers worth documenting, by name. */
  headers?: Record<string, string>;
}

/** What a handler receives: the validated input and the raw request and reply. */
export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  request: FastifyRequest;
  reply: FastifyReply;
}

/** An operation of the API. */
export interface ApiRoute<P = unknown, Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify-style path, e.g. `/v1/generations/:id`. */
  url: string;
  /** Group in the docs, e.g. `generations`. */
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  /** Schema of the JSON body, validated before the handler runs unless `validateBody` is false. */
  body?: z.ZodType<B>;
  /** False when the handler passes the body to something that validates it with the same schema. */
  validateBody?: boolean;
  responses: Record<number, ResponseSpec>;
  /** Answers with the body to send (JSON), or with what `reply.send` was already given. */
  handler: (input: RouteInput<P, Q, B>) => Promise<unknown>;
}

/** Declares a route; a helper so that the handler's input types follow from the schemas. */
export function defineRoute<P = undefined, Q = undefined, B = undefined>(route: ApiRoute<P, Q, B>): ApiRoute {
  return route as ApiRoute;
}

/** Registers routes on the server, validating params, query and body with their schemas (400 on a mismatch). */
export function registerRoutes(app: FastifyInstance, routes: readonly ApiRoute[]): void {
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        const params = route.params ? parseOrThrow(route.params, request.params, 'path parameters') : undefined;
        const query = route.query ? parseOrThrow(route.query, request.query ?? {}, 'query string') : undefined;
        const body = route.body && route.validateBody !== false ? parseOrThrow(route.body, request.body ?? {}, 'request body') : request.body;
        return route.handler({ params, query, body, request, reply });
      },
    });
  }
}
