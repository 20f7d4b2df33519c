/**
 * Error responses: every failure answers `{ error: { code, message, details? } }` with the status that names it.
 * Engine errors map to statuses here, in one place; anything unexpected is a 500 that names the request id and
 * never carries a stack trace.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { isValidationError } from '../../core/validation.js';
import { isInvalidCursorError, isInvalidTransitionError, isJobNotFoundError, isStoreUnavailableError } from '../../runtime/job-store.js';
import { isQueueFullError } from '../../runtime/request-queue.js';
import { isPlanRejectedError } from '../../runtime/understudy.js';
import type { ErrorBody, ErrorDetail } from './schemas.js';
import { fallbackStrategyView } from './views.js';

/** An error with its HTTP status and API code, thrown by route handlers. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly statusCode: number,
    /** Stable machine-readable code, e.g. `not_found`. */
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    /** Extra fields of the error body, e.g. the rejected plan. */
    readonly extra?: Record<string, unknown>,
    /** Seconds for a Retry-After header. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Turns any error into the API error it stands for. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isValidationError(error)) {
    // An issue with the input as a whole (an unknown key, a body that is not an object) names what was validated.
    const details = error.issues.map((i) => ({ field: i.field || error.subject, problem: i.problem, ...('received' in i ? { received: i.received } : {}) }));
    return new ApiError(400, 'invalid_request', error.message, details);
  }
  if (isQueueFullError(error)) {
    return new ApiError(429, 'queue_full', error.message, undefined, { size: error.size, maxSize: error.maxSize }, error.retryAfterSeconds);
  }
  if (isPlanRejectedError(error)) return new ApiError(422, 'plan_rejected', error.message, undefined, { plan: fallbackStrategyView(error.strategy) });
  if (isInvalidCursorError(error)) {
    return new ApiError(400, 'invalid_request', error.message, [
      { field: 'cursor', problem: 'expected the nextCursor of an earlier page', received: error.cursor.slice(0, 100) },
    ]);
  }
  if (isJobNotFoundError(error)) return new ApiError(404, 'not_found', `no generation ${error.jobId}`);
  if (isInvalidTransitionError(error)) return new ApiError(409, 'conflict', error.message, undefined, { status: error.status });
  if (isStoreUnavailableError(error)) return new ApiError(503, 'store_unavailable', error.message, undefined, undefined, error.retryAfterSeconds);
  return fromFastifyError(error);
}

/** Installs the error and not-found handlers that give every failure the same shape. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const api = toApiError(error);
    if (api.statusCode < 500) return sendApiError(reply, api);
    request.log.error({ err: error, reqId: request.id }, 'request failed');
    return sendApiError(reply, new ApiError(api.statusCode, api.code, `${api.message} (request ${request.id})`, undefined, undefined, api.retryAfterSeconds));
  });
  app.setNotFoundHandler((request, reply) =>
    sendApiError(reply, new ApiError(404, 'route_not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

/** Sends an API error, with Retry-After when it has one. */
export function sendApiError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  const body: ErrorBody = { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}), ...error.extra } };
  return reply.code(error.statusCode).type('application/json; charset=utf-8').send(body);
}

const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_request' },
};

function fromFastifyError(error: unknown): ApiError {
  const fe = error as Partial<FastifyError>;
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return new ApiError(known.status, known.code, fe.message ?? known.code);
  if (fe.statusCode === 429) return new ApiError(429, 'rate_limited', fe.message ?? 'too many requests');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode, 'bad_request', fe.message ?? 'bad request');
  }
  return new ApiError(500, 'internal_error', 'internal error; the server log has the details');
}
