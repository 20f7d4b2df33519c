/**
 * The event relay on a Redis stream through BullMQ's custom events: QueueEventsProducer XADDs each event to
 * `<prefix>:relay:events` (trimmed to about `maxLen` entries, MAXLEN ~), and each subscription is a QueueEvents
 * reading it with a blocking XREAD from an id, on its own connection, reconnecting through outages. BullMQ fits: the
 * stream, its trimming, the resumable read loop and its reconnects are what we would otherwise write. What it lacks
 * is a "you missed events" signal, added here: a subscription resuming from an id older than the stream's first
 * entry calls `onGap` before delivering anything.
 */
import { QueueEvents, QueueEventsProducer, type QueueEventsListener } from 'bullmq';
import type { Redis } from 'ioredis';
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import type { EventRelay, RelayListener, RelaySubscribeOptions, RelaySubscription } from '../../runtime/cluster/event-relay.js';
import { blockingTemplate } from './blocking-template.js';
import { keyPrefix } from './redis-key-prefix.js';

/** The BullMQ queue name whose event stream carries the relay (no queue of jobs goes with it). */
const RELAY_QUEUE = 'relay';

/** The custom event name every relayed event is published under. */
const EVENT_NAME = 'understudy';

/** Fields of one relayed entry on the stream. */
interface RelayFields {
  origin: string;
  payload: string;
}

interface RelayEventsListener extends QueueEventsListener {
  [EVENT_NAME]: (fields: RelayFields, id: string) => void;
}

/** Options of {@link RedisEventRelay}. */
export interface RedisEventRelayOptions {
  /** A client the caller owns (and quits), any role; publishing uses it, each subscription reads on a duplicate. */
  connection: Redis;
  /** Id of this process, stamped on what it publishes. */
  origin: string;
  /** Key prefix (default `us`). */
  prefix?: string;
  /** About how many events the stream keeps (default 10 000, as BullMQ's own streams). */
  maxLen?: number;
  /** How long each blocking read waits before it is issued again, ms (default 10 000). */
  blockingTimeoutMs?: number;
  /** Called with an entry that is not a relayed event, and with connection errors of a subscription. Default: ignored. */
  onError?: (error: unknown) => void;
}

/** {@link EventRelay} on a Redis stream through BullMQ; {@link close} closes the producer and every subscription. */
export class RedisEventRelay implements EventRelay {
  readonly origin: string;
  private readonly prefix: string;
  private readonly maxLen: number;
  private readonly producer: QueueEventsProducer;
  private readonly subscriptions = new Set<RelaySubscription>();

  constructor(private readonly options: RedisEventRelayOptions) {
    this.origin = options.origin;
    this.prefix = keyPrefix(options.prefix);
    this.maxLen = options.maxLen ?? 10_000;
    if (!(Number.isInteger(this.maxLen) && this.maxLen >= 1)) throw new RangeError(`maxLen must be a whole number ≥ 1, got ${this.maxLen}`);
    this.producer = new QueueEventsProducer(RELAY_QUEUE, { connection: options.connection, prefix: this.prefix });
  }

  /** The stream's key. */
  get streamKey(): string {
    return `${this.prefix}:${RELAY_QUEUE}:events`;
  }

  async publish(event: UnderstudyEvent): Promise<void> {
    await this.producer.publishEvent({ eventName: EVENT_NAME, origin: this.origin, payload: JSON.stringify(event) }, this.maxLen);
  }

  subscribe(listener: RelayListener, options: RelaySubscribeOptions = {}): RelaySubscription {
    let events: QueueEvents | undefined;
    let closed = false;
    const template = blockingTemplate(this.options.connection);
    const ready = (async () => {
      const fromId = await this.startId(options);
      if (closed) return;
      events = new QueueEvents(RELAY_QUEUE, {
        connection: template,
        prefix: this.prefix,
        lastEventId: fromId,
        blockingTimeout: this.options.blockingTimeoutMs ?? 10_000,
      });
      events.on<RelayEventsListener, typeof EVENT_NAME>(EVENT_NAME, (fields, id) => {
        let event: UnderstudyEvent;
        try {
          event = JSON.parse(fields.payload) as UnderstudyEvent;
        } catch (error) {
          this.options.onError?.(error);
          return;
        }
        listener(event, id, fields.origin);
      });
      events.on('error', (error) => this.options.onError?.(error));
      await events.waitUntilReady();
    })();
    ready.catch((error: unknown) => this.options.onError?.(error)); // reported here too, for callers that do not await it
    const subscription: RelaySubscription = {
      ready,
      close: async () => {
        closed = true;
        this.subscriptions.delete(subscription);
        await ready.catch(() => undefined);
        await events?.close();
        template.disconnect();
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Closes every subscription and the producer (not the caller's connection). */
  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.producer.close();
  }

  /** Where a subscription starts: after `fromId` (reporting a gap first), else after the newest entry now. */
  private async startId(options: RelaySubscribeOptions): Promise<string> {
    const redis = this.options.connection;
    if (options.fromId === undefined) {
      const newest = await redis.xrevrange(this.streamKey, '+', '-', 'COUNT', 1);
      return newest[0]?.[0] ?? '0-0';
    }
    const oldest = (await redis.xrange(this.streamKey, '-', '+', 'COUNT', 1))[0]?.[0];
    if (oldest !== undefined && compareStreamIds(options.fromId, oldest) < 0) options.onGap?.();
    return options.fromId;
  }
}

/** Orders two stream ids (`<ms>-<seq>`, or `<ms>` alone). */
function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}
