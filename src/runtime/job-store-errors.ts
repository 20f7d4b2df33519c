/** The errors of the job-store port: what every store throws, whatever it stores jobs in. */
import type { JobState } from './job.js';

/** Thrown when the queue is full. Carries the size and a hint of when to retry. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';

  constructor(
    readonly size: number,
    readonly maxSize: number,
    /** Seconds after which a retry may succeed. */
    readonly retryAfterSeconds: number,
  ) {
    super(`queue is full: ${size} of ${maxSize} requests queued; retry in about ${retryAfterSeconds} s`);
  }
}

/** Type guard for {@link QueueFullError}. */
export function isQueueFullError(error: unknown): error is QueueFullError {
  return error instanceof QueueFullError;
}

/** Thrown when no job has the id. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';

  constructor(readonly jobId: string) {
    super(`no job ${jobId}`);
  }
}

/** Type guard for {@link JobNotFoundError}. */
export function isJobNotFoundError(error: unknown): error is JobNotFoundError {
  return error instanceof JobNotFoundError;
}

/** Thrown when a job is accepted under an id already taken. */
export class JobAlreadyExistsError extends Error {
  override readonly name = 'JobAlreadyExistsError';

  constructor(readonly jobId: string) {
    super(`a job ${jobId} already exists`);
  }
}

/** Type guard for {@link JobAlreadyExistsError}. */
export function isJobAlreadyExistsError(error: unknown): error is JobAlreadyExistsError {
  return error instanceof JobAlreadyExistsError;
}

/** Thrown when a worker acts on a job it no longer holds: it is not running, or it runs under another owner. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';

  constructor(
    readonly jobId: string,
    /** The owner that tried to act. */
    readonly owner: string,
    readonly status: JobState,
    /** The job's lease owner now, if any. */
    readonly currentOwner: string | null,
    /** What was attempted, e.g. `complete`. */
    readonly attempted: string,
  ) {
    super(
      `${owner} cannot ${attempted} job ${jobId}: it is ${status}` +
        (status === 'running' ? ` under ${currentOwner ?? 'no owner'}` : '') +
        ', not running under this owner',
    );
  }
}

/** Type guard for {@link LeaseLostError}. */
export function isLeaseLostError(error: unknown): error is LeaseLostError {
  return error instanceof LeaseLostError;
}

/** Thrown when a job cannot move from its current state as asked. */
export class InvalidTransitionError extends Error {
  override readonly name = 'InvalidTransitionError';

  constructor(
    readonly jobId: string,
    readonly status: JobState,
    /** What was attempted, e.g. `cancel`. */
    readonly attempted: string,
  ) {
    super(`cannot ${attempted} job ${jobId}: it is ${status}`);
  }
}

/** Type guard for {@link InvalidTransitionError}. */
export function isInvalidTransitionError(error: unknown): error is InvalidTransitionError {
  return error instanceof InvalidTransitionError;
}

/** Thrown when a listing's cursor is not one the store handed out (a `nextCursor` of an earlier page). */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';

  constructor(readonly cursor: string) {
    super(`cursor: expected the nextCursor of an earlier page, received ${JSON.stringify(cursor.slice(0, 100))}`);
  }
}

/** Type guard for {@link InvalidCursorError}. */
export function isInvalidCursorError(error: unknown): error is InvalidCursorError {
  return error instanceof InvalidCursorError;
}

/**
 * Thrown when the store cannot be reached (Redis down, a connection reset): nothing was stored, and the same call may
 * succeed once the store is back. The API answers it with 503 and Retry-After, never with a 202 it cannot keep.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';

  constructor(
    /** Where the store is, safe to print (no password). */
    readonly where: string,
    cause: unknown,
    /** Seconds after which a retry may succeed (default 5). */
    readonly retryAfterSeconds = 5,
  ) {
    super(`the job store at ${where} is unreachable (${cause instanceof Error ? cause.message : String(cause)}); retry in a few seconds`, { cause });
  }
}

/** Type guard for {@link StoreUnavailableError}. */
export function isStoreUnavailableError(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}
