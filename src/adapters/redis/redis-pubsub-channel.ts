/**
 * One Redis pub/sub channel carrying JSON messages of one shape: published on the caller's client, heard on a
 * subscriber duplicated from it that waits through outages and resubscribes on reconnect (ioredis' autoResubscribe).
 * Pub/sub keeps nothing: what it carries must be a hint whose truth is in the store (a cancel, new work).
 */
import { EventEmitter } from 'cockatiel';
import type { Redis } from 'ioredis';

/** Options of {@link RedisPubSubChannel.open}. */
export interface RedisPubSubChannelOptions<T> {
  /** A client the caller owns (and quits), any role; messages are published on it and a subscriber is duplicated from it. */
  connection: Redis;
  /** The channel's full name. */
  channel: string;
  /** Reads a message; undefined when it is not one of this channel's. */
  parse: (value: unknown) => T | undefined;
  /** Called with a message on the channel that does not parse. Default: ignored. */
  onInvalid?: (message: string) => void;
}

/** A subscribed channel; {@link close} releases its subscriber connection. */
export class RedisPubSubChannel<T> {
  private readonly emitter = new EventEmitter<T>();

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
  ) {}

  /** Subscribes; resolves once messages published from now on will be heard. */
  static async open<T>(options: RedisPubSubChannelOptions<T>): Promise<RedisPubSubChannel<T>> {
    const { channel } = options;
    const subscriber = options.connection.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: false });
    const opened = new RedisPubSubChannel<T>(options.connection, subscriber, channel);
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const parsed = parseJson(message, options.parse);
      if (parsed !== undefined) opened.emitter.emit(parsed);
      else options.onInvalid?.(message);
    });
    try {
      await subscriber.subscribe(channel);
    } catch (error) {
      subscriber.disconnect();
      throw error;
    }
    return opened;
  }

  /** Publishes `message` to every subscriber (this one's included). */
  async publish(message: T): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(message));
  }

  /** Calls `listener` for every message from now on; returns a function that stops listening. */
  listen(listener: (message: T) => void): () => void {
    const subscription = this.emitter.addListener(listener);
    return () => subscription.dispose();
  }

  /** Unsubscribes and closes the subscriber connection (not the caller's). */
  async close(): Promise<void> {
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}

function parseJson<T>(message: string, parse: (value: unknown) => T | undefined): T | undefined {
  try {
    return parse(JSON.parse(message));
  } catch {
    return undefined;
  }
}
