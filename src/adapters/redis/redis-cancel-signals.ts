/**
 * Cancel signals on Redis pub/sub, channel `<prefix>:cancel`: the gateway that cancels publishes, every worker hears
 * it and the one running the job aborts it. Pub/sub keeps nothing, which is right here: the cancel itself is in the
 * job store, and a worker that was disconnected finds it at its next lease renewal; the signal only makes it prompt.
 */
import type { Redis } from 'ioredis';
import type { CancelListener, CancelSignals } from '../../runtime/cluster/cancel-signals.js';
import { keyPrefix } from './redis-key-prefix.js';
import { RedisPubSubChannel } from './redis-pubsub-channel.js';

/** Options of {@link RedisCancelSignals.open}. */
export interface RedisCancelSignalsOptions {
  /** A client the caller owns (and quits), any role; signals are published on it and a subscriber is duplicated from it. */
  connection: Redis;
  /** Key prefix (default `us`). */
  prefix?: string;
  /** Called with a message on the channel that is not a cancel signal. Default: ignored. */
  onInvalid?: (message: string) => void;
}

interface CancelMessage {
  jobId: string;
  reason: string;
}

/** {@link CancelSignals} on Redis pub/sub; {@link close} releases its subscriber connection. */
export class RedisCancelSignals implements CancelSignals {
  private constructor(private readonly channel: RedisPubSubChannel<CancelMessage>) {}

  /** Subscribes to the channel; resolves once signals sent from now on will be heard. */
  static async open(options: RedisCancelSignalsOptions): Promise<RedisCancelSignals> {
    const channel = await RedisPubSubChannel.open({
      connection: options.connection,
      channel: `${keyPrefix(options.prefix)}:cancel`,
      parse: parseCancel,
      ...(options.onInvalid ? { onInvalid: options.onInvalid } : {}),
    });
    return new RedisCancelSignals(channel);
  }

  signal(jobId: string, reason: string): Promise<void> {
    return this.channel.publish({ jobId, reason });
  }

  onCancel(listener: CancelListener): () => void {
    return this.channel.listen(({ jobId, reason }) => listener(jobId, reason));
  }

  /** Unsubscribes and closes the subscriber connection (not the caller's). */
  close(): Promise<void> {
    return this.channel.close();
  }
}

function parseCancel(value: unknown): CancelMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { jobId, reason } = value as Record<string, unknown>;
  return typeof jobId === 'string' && typeof reason === 'string' ? { jobId, reason } : undefined;
}
