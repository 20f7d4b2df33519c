import type { UnderstudyEvent } from '../engine-events.js';

/**
 * Called for every relayed event, in order. `id` is its position in the relay, to resume from; `origin` is the id of
 * the process (worker or gateway) that published it, so that process does not re-emit its own events.
 */
export type RelayListener = (event: UnderstudyEvent, id: string, origin: string) => void;

/** One relayed event, with its id and the process that published it. */
export interface RelayedEvent {
  id: string;
  event: UnderstudyEvent;
  origin: string;
}

/** What the relay keeps after an id: the events, or a gap (events after it were trimmed, or the id is not one of its). */
export type RelayedAfter = { gap: false; events: RelayedEvent[] } | { gap: true; reason: string };

/** Options of {@link EventRelay.subscribe}. */
export interface RelaySubscribeOptions {
  /**
   * Deliver events after this id (the last one the subscriber saw). Default: only events published from now on.
   * When the id is older than what the relay keeps, `onGap` is called first.
   */
  fromId?: string;
  /** Called before the first delivery when `fromId` is older than the oldest event kept: reload state. */
  onGap?: () => void;
}

/** A live subscription. */
export interface RelaySubscription {
  /** Resolves once events published from now on will be delivered (and after `onGap`, when there was a gap). */
  readonly ready: Promise<void>;
  /** Stops delivery and releases the connection. */
  close(): Promise<void>;
}

/**
 * Port: every process's events reach every other process, in one order, resumable by id. A gateway feeds its
 * WebSocket from it; after a restart it resumes from the last id it saw, and after a gap (the relay trimmed events
 * it had not read) it reloads state instead of trusting the stream.
 */
export interface EventRelay {
  /** Id of this process, stamped as the origin of what it publishes. */
  readonly origin: string;
  /** Appends `event` to the relay, stamped with {@link origin}; resolves once it is stored. */
  publish(event: UnderstudyEvent): Promise<void>;
  /** Delivers relayed events, this process's own included (filter on `origin`), until closed. */
  subscribe(listener: RelayListener, options?: RelaySubscribeOptions): RelaySubscription;
  /**
   * The kept events after `afterId`, oldest first, at most `limit`, read at once (no waiting): what a client
   * resuming from `afterId` missed, or a gap when some of it was trimmed or the id is not one of this relay's.
   */
  readAfter(afterId: string, limit: number): Promise<RelayedAfter>;
}
