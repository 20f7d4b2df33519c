/**
 * The event relay on a Redis stream through BullMQ's custom events: QueueEventsProducer XADDs each event to
 * `<prefix>:relay:events` (trimmed to about `maxLen` entries, MAXLEN ~), and each subscription is a QueueEvents
 * reading it with a blocking XREAD from an id, on its own connection, reconnecting through outages. BullMQ fits: the
 * stream, its trimming, the resumable read loop and its reconnects are what we would otherwise write. What it lacks
 * is a "you missed events" signal, added here: a subscription or a read resuming from an id after which the stream
 * trimmed entries is told of a gap (XINFO STREAM: an id older than the first entry kept, when more entries were added
 * than kept; `max-deleted-entry-id` when XDEL set it, since Redis 7.0 leaves it at 0-0 when MAXLEN trims).
 */
import { QueueEvents, QueueEventsProducer, type QueueEventsListener } from 'bullmq';
import type { Redis } from 'ioredis';
import { compareEventIds } from '../../core/event-ids.js';
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import type { EventRelay, RelayListener, RelayedAfter, RelayedEvent, RelaySubscribeOptions, RelaySubscription } from '../../runtime/cluster/event-relay.js';
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

  /** Resolves once stored; BullMQ's publishEvent does not answer the entry's id, so neither does this. */
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
        const relayed = this.decode(id, fields);
        if (relayed) listener(relayed.event, relayed.id, relayed.origin);
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

  async readAfter(afterId: string, limit: number): Promise<RelayedAfter> {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`limit must be a whole number ≥ 1, got ${limit}`);
    compareEventIds(afterId, afterId); // throws on an id that is not a stream id
    // One transaction: nothing is trimmed between the gap check and the read.
    const [info, range] = (await this.options.connection
      .multi()
      .xinfo('STREAM', this.streamKey)
      .xrange(this.streamKey, `(${afterId}`, '+', 'COUNT', limit)
      .exec()) ?? [];
    const gap = gapReason(afterId, info?.[0] ? undefined : streamInfo(info?.[1]), this.maxLen);
    if (gap) return { gap: true, reason: gap };
    if (range?.[0]) throw range[0];
    const entries = (range?.[1] ?? []) as Array<[string, string[]]>;
    const events = entries.flatMap(([id, flat]) => {
      const fields = pairs(flat);
      if (fields.get('event') !== EVENT_NAME) return [];
      const relayed = this.decode(id, { origin: fields.get('origin') ?? '', payload: fields.get('payload') ?? '' });
      return relayed ? [relayed] : [];
    });
    return { gap: false, events };
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
    const info = await redis.xinfo('STREAM', this.streamKey).then(streamInfo, () => undefined);
    if (gapReason(options.fromId, info, this.maxLen)) options.onGap?.();
    return options.fromId;
  }

  /** The relayed event of a stream entry; undefined (reported to `onError`) when its payload is not JSON. */
  private decode(id: string, fields: RelayFields): RelayedEvent | undefined {
    try {
      return { id, event: JSON.parse(fields.payload) as UnderstudyEvent, origin: fields.origin };
    } catch (error) {
      this.options.onError?.(error);
      return undefined;
    }
  }
}

/** What XINFO STREAM says of the stream's bounds; undefined when there is no stream. */
interface StreamBounds {
  lastGeneratedId: string;
  /** The newest id deleted by XDEL (`0-0`: none; Redis 7.0 leaves it there when MAXLEN trims); absent before Redis 7. */
  maxDeletedId?: string;
  /** Entries ever added and entries kept: more added than kept means some were trimmed away. Absent before Redis 7. */
  entriesAdded?: number;
  length: number;
  firstId?: string;
}

function streamInfo(reply: unknown): StreamBounds | undefined {
  if (!Array.isArray(reply)) return undefined;
  const fields = pairs(reply as unknown[]);
  const first = fields.get('first-entry');
  const maxDeleted = fields.get('max-deleted-entry-id');
  const added = fields.get('entries-added');
  return {
    lastGeneratedId: String(fields.get('last-generated-id') ?? '0-0'),
    length: Number(fields.get('length') ?? 0),
    ...(typeof maxDeleted === 'string' ? { maxDeletedId: maxDeleted } : {}),
    ...(typeof added === 'number' ? { entriesAdded: added } : {}),
    ...(Array.isArray(first) && typeof first[0] === 'string' ? { firstId: first[0] } : {}),
  };
}

/** Why resuming after `afterId` misses events, or undefined when it misses none. */
function gapReason(afterId: string, stream: StreamBounds | undefined, maxLen: number): string | undefined {
  if (!stream) return afterId === '0-0' ? undefined : 'the relay keeps no events (its stream is gone: was Redis emptied?)';
  if (compareEventIds(afterId, stream.lastGeneratedId) > 0) return 'the id is ahead of the newest event (another Redis, or one that was emptied)';
  const trimmed =
    stream.maxDeletedId !== undefined && stream.maxDeletedId !== '0-0'
      ? compareEventIds(afterId, stream.maxDeletedId) < 0
      : stream.entriesAdded !== undefined && stream.entriesAdded <= stream.length
        ? false
        : compareEventIds(afterId, stream.firstId ?? stream.lastGeneratedId) < 0;
  return trimmed ? `events after it are no longer kept (the stream keeps about the last ${maxLen})` : undefined;
}

/** A flat `[key, value, key, value…]` reply as a map. */
function pairs<T>(flat: readonly T[]): Map<T, T> {
  const map = new Map<T, T>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i] as T, flat[i + 1] as T);
  return map;
}
