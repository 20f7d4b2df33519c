/** Work signals on Redis pub/sub, channel `<prefix>:work`: a gateway that queued a job publishes, every worker wakes. */
import type { Redis } from 'ioredis';
import type { WorkSignals } from '../../runtime/cluster/work-signals.js';
import { keyPrefix } from './redis-key-prefix.js';
import { RedisPubSubChannel } from './redis-pubsub-channel.js';

/** {@link WorkSignals} on Redis pub/sub; {@link close} releases its subscriber connection. */
export class RedisWorkSignals implements WorkSignals {
  private constructor(private readonly channel: RedisPubSubChannel<{ modelId: string }>) {}

  /** Subscribes to `<prefix>:work` (prefix default `us`) over a subscriber duplicated from `connection`. */
  static async open(options: { connection: Redis; prefix?: string }): Promise<RedisWorkSignals> {
    const channel = await RedisPubSubChannel.open({
      connection: options.connection,
      channel: `${keyPrefix(options.prefix)}:work`,
      parse: (value) => {
        const modelId = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).modelId : undefined;
        return typeof modelId === 'string' ? { modelId } : undefined;
      },
    });
    return new RedisWorkSignals(channel);
  }

  signal(modelId: string): Promise<void> {
    return this.channel.publish({ modelId });
  }

  onWork(listener: (modelId: string) => void): () => void {
    return this.channel.listen(({ modelId }) => listener(modelId));
  }

  /** Unsubscribes and closes the subscriber connection (not the caller's). */
  close(): Promise<void> {
    return this.channel.close();
  }
}
