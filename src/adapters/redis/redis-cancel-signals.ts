/**
 * Cancel signals on Redis pub/sub, channel `<prefix>:cancel`: the gateway that cancels publishes, every worker hears
 * it and the one running the job aborts it. Pub/sub keeps nothing, which is right here: the cancel itself is in the
 * job store, and a worker that was disconnected finds it at its next lease renewal; the signal only makes it prompt.
 */
import { EventEmitter } from 'cockatiel';
import type { Redis } from 'ioredis';
import type { CancelListener, CancelSignals } from '../../runtime/cluster/cancel-signals.js';
import { keyPrefix } from './redis-key-prefix.js';

/** Options of {@link RedisCancelSignals.open}. */
export interface RedisCancelSignalsOptions {
  /** A client the caller owns (and quits), any role; signals are published on it and a subscriber is duplicated from it. */
  connection: Redis;
  /** Key prefix (default `us`). */
  prefix?: string;
  /** Called with a message on the channel that is not a cancel signal. Default: ignored. */
  onInvalid?: (message: string) => void;
}

/** {@link CancelSignals} on Redis pub/sub; {@link close} releases its subscriber connection. */
export class RedisCancelSignals implements CancelSignals {
  private readonly emitter = new EventEmitter<{ jobId: string; reason: string }>();

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
  ) {}

  /** Subscribes to the channel; resolves once signals sent from now on will be heard. */
  static async open(options: RedisCancelSignalsOptions): Promise<RedisCancelSignals> {
    const channel = `${keyPrefix(options.prefix)}:cancel`;
    // A subscriber waits through outages and resubscribes on reconnect (ioredis' autoResubscribe).
    const subscriber = options.connection.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: false });
    const signals = new RedisCancelSignals(options.connection, subscriber, channel);
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const parsed = parseSignal(message);
      if (parsed) signals.emitter.emit(parsed);
      else options.onInvalid?.(message);
    });
    try {
      await subscriber.subscribe(channel);
    } catch (error) {
      subscriber.disconnect();
      throw error;
    }
    return signals;
  }

  async signal(jobId: string, reason: string): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify({ jobId, reason }));
  }

  onCancel(listener: CancelListener): () => void {
    const subscription = this.emitter.addListener(({ jobId, reason }) => listener(jobId, reason));
    return () => subscription.dispose();
  }

  /** Unsubscribes and closes the subscriber connection (not the caller's). */
  async close(): Promise<void> {
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}

function parseSignal(message: string): { jobId: string; reason: string } | undefined {
  try {
    const value: unknown = JSON.parse(message);
    if (typeof value !== 'object' || value === null) return undefined;
    const { jobId, reason } = value as Record<string, unknown>;
    return typeof jobId === 'string' && typeof reason === 'string' ? { jobId, reason } : undefined;
  } catch {
    return undefined;
  }
}
