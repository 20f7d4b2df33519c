import type { Event } from 'cockatiel';
import type { UnderstudyEvent } from './engine-events.js';

/** An event with its id in the log (core/event-ids.ts), which a client resumes from. */
export interface LoggedEvent {
  id: string;
  event: UnderstudyEvent;
}

/** What the log holds after an id: the events, or a gap (some are no longer kept, or the id is not this log's). */
export type EventsAfter = { gap: false; events: LoggedEvent[] } | { gap: true; reason: string };

/**
 * Port: the events a gateway shows, each with a resumable id, in one order, the last ones kept. In one process an
 * in-memory ring (local-event-log.ts); on a Redis store the relay's stream, shared by every gateway
 * (cluster/relay-event-log.ts), so a client resumes on any gateway, after a restart too.
 */
export interface EventLog {
  /** Every event logged from now on, in id order. */
  readonly onLogged: Event<LoggedEvent>;
  /**
   * The kept events after `since` (a well-formed id), oldest first, at most `limit`; a gap when events after
   * `since` are no longer kept or `since` is not an id of this log (another run, another store).
   */
  after(since: string, limit: number): Promise<EventsAfter>;
}
