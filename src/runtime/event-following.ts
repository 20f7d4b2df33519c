import { compareEventIds } from '../core/event-ids.js';
import type { EventLog, LoggedEvent } from './event-log.js';

/** Options of {@link followEventLog}. */
export interface FollowEventLogOptions {
  /** Resume after this id (the last one the client saw): what the log kept after it first. Default: from now on. */
  since?: string;
  /** Called with each event, in id order, never twice. */
  deliver: (entry: LoggedEvent) => void;
  /** Called once, before any event, when events after `since` are lost: the client re-reads state. Live follows. */
  gap: (reason: string) => void;
  /** Events read from the log at a time while catching up (default 500). */
  pageSize?: number;
}

/** A running follow. */
export interface EventFollow {
  /** Resolves once caught up (live from then on); rejects when the log cannot be read (the follow then stops). */
  readonly ready: Promise<void>;
  /** Stops delivery. */
  stop(): void;
}

/**
 * Follows `log` for one client: when resuming, the kept events after `since` page by page, then live events, in
 * id order, each once. Live events are listened to before the first read and held while catching up, so none
 * published meanwhile is missed; ids already delivered are skipped. After a gap: live events only.
 */
export function followEventLog(log: EventLog, options: FollowEventLogOptions): EventFollow {
  const { deliver, pageSize = 500 } = options;
  let last = options.since;
  let catchingUp = last !== undefined;
  let stopped = false;
  const held: LoggedEvent[] = [];
  const pass = (entry: LoggedEvent): void => {
    if (stopped || (last !== undefined && compareEventIds(entry.id, last) <= 0)) return;
    last = entry.id;
    deliver(entry);
  };
  const listening = log.onLogged((entry) => (catchingUp ? held.push(entry) : pass(entry)));
  const stop = (): void => {
    stopped = true;
    listening.dispose();
  };
  const ready = (async () => {
    while (catchingUp && !stopped && last !== undefined) {
      const page = await log.after(last, pageSize);
      if (page.gap) {
        options.gap(page.reason);
        last = undefined;
      } else {
        for (const entry of page.events) pass(entry);
        if (page.events.length === 0) break;
      }
    }
    catchingUp = false;
    for (const entry of held.splice(0)) pass(entry);
  })();
  ready.catch(stop);
  return { ready, stop };
}
