import type { GenerationRequirements } from '../core/requirements.js';
import type { Priority } from '../core/vocabulary.js';

/** A request waiting for its model to become available. */
export interface QueuedRequest {
  requestId: string;
  modelId: string;
  requirements: GenerationRequirements;
  priority: Priority;
  /** Epoch milliseconds it was accepted. */
  queuedAt: number;
  /** Epoch milliseconds after which it expires. */
  expiresAt: number;
  /** Acceptance order, for FIFO within a priority. */
  sequence: number;
}

/** Port: where queued requests live. In memory here; the durable job store implements it too. */
export interface RequestQueue {
  /** Adds a request; resolves with its 1-based position. Rejects with a QueueFullError when full. */
  enqueue(request: Omit<QueuedRequest, 'sequence'>): Promise<{ position: number }>;
  /** Every queued request, in queue order at `now`. */
  list(now: number): Promise<QueuedRequest[]>;
  /** Removes a request; resolves false when it was not queued. */
  remove(requestId: string): Promise<boolean>;
  /** Removes and returns the requests whose `expiresAt` is at or before `now`. */
  removeExpired(now: number): Promise<QueuedRequest[]>;
  /** Most requests the queue holds. */
  readonly maxSize: number;
}

/** Thrown when a queue is full. Carries the size and a hint of when to retry. */
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
