import { sortQueue } from '../core/queue-ordering.js';
import { QueueFullError, type QueuedRequest, type RequestQueue } from './request-queue.js';

/** Options of {@link InMemoryRequestQueue}. */
export interface InMemoryRequestQueueOptions {
  /** Most requests held (default 100). */
  maxSize?: number;
  /** Seconds of waiting that raise a request one priority level; 0 turns aging off (default 0). */
  agingSeconds?: number;
  /** Retry hint given when full, seconds (default 300). */
  retryAfterSeconds?: number;
}

/** A request queue in process memory: fast, and lost on restart. Use the job store for durability. */
export class InMemoryRequestQueue implements RequestQueue {
  readonly maxSize: number;
  private readonly agingSeconds: number;
  private readonly retryAfterSeconds: number;
  private readonly items = new Map<string, QueuedRequest>();
  private sequence = 0;

  constructor(options: InMemoryRequestQueueOptions = {}) {
    this.maxSize = options.maxSize ?? 100;
    this.agingSeconds = options.agingSeconds ?? 0;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 300;
  }

  async enqueue(request: Omit<QueuedRequest, 'sequence'>): Promise<{ position: number }> {
    if (this.items.size >= this.maxSize) throw new QueueFullError(this.items.size, this.maxSize, this.retryAfterSeconds);
    const item = { ...request, sequence: this.sequence++ };
    this.items.set(item.requestId, item);
    const ordered = sortQueue([...this.items.values()], request.queuedAt, this.agingSeconds);
    return { position: ordered.indexOf(item) + 1 };
  }

  async list(now: number): Promise<QueuedRequest[]> {
    return sortQueue([...this.items.values()], now, this.agingSeconds);
  }

  async remove(requestId: string): Promise<boolean> {
    return this.items.delete(requestId);
  }

  async removeExpired(now: number): Promise<QueuedRequest[]> {
    const expired = [...this.items.values()].filter((r) => r.expiresAt <= now);
    for (const r of expired) this.items.delete(r.requestId);
    return expired;
  }
}
