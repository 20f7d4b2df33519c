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

export { QueueFullError, isQueueFullError } from './job-store-errors.js';
