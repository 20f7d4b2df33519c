import { EventEmitter, type Event } from 'cockatiel';
import type { Clock } from '../core/clock.js';
import { parseEventId } from '../core/event-ids.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { EventLog, EventsAfter, LoggedEvent } from './event-log.js';

/** Options of {@link LocalEventLog}. */
export interface LocalEventLogOptions {
  /** The engine's events, logged as they are emitted. */
  events: Event<UnderstudyEvent>;
  /** Stamps the log's run: its ids are `<start ms>-<counter>`, so an id of an earlier run is known as one. */
  clock: Clock;
  /** How many of the last events are kept for clients that resume (default 10 000). */
  kept?: number;
}

/**
 * {@link EventLog} of one process: ids `<start ms>-<n>` counted from 1, the last `kept` events in a ring. Nothing
 * outlives the process: an id from before a restart is answered with a gap.
 */
export class LocalEventLog implements EventLog {
  readonly onLogged: Event<LoggedEvent>;
  private readonly emitter = new EventEmitter<LoggedEvent>();
  private readonly ring: LoggedEvent[] = [];
  private readonly kept: number;
  private readonly run: bigint;
  /** The counter of the newest event (0: none yet). */
  private newest = 0n;

  constructor(options: LocalEventLogOptions) {
    this.kept = options.kept ?? 10_000;
    if (!(Number.isInteger(this.kept) && this.kept >= 1)) throw new RangeError(`kept must be a whole number ≥ 1, got ${this.kept}`);
    this.run = BigInt(Math.max(0, Math.floor(options.clock.now())));
    this.onLogged = this.emitter.addListener;
    options.events((event) => this.log(event));
  }

  async after(since: string, limit: number): Promise<EventsAfter> {
    const id = parseEventId(since);
    if (!id) throw new RangeError(`not an event id: ${since}`);
    if (id.ms !== this.run) return { gap: true, reason: 'the id is from another run of the server: events are kept in its memory only' };
    if (id.seq > this.newest) return { gap: true, reason: 'the id is ahead of the newest event' };
    const oldest = this.newest - BigInt(this.ring.length) + 1n;
    if (id.seq + 1n < oldest) return { gap: true, reason: `events after it are no longer kept (the last ${this.kept} are)` };
    const events: LoggedEvent[] = [];
    for (let seq = id.seq + 1n; seq <= this.newest && events.length < limit; seq++) events.push(this.at(seq));
    return { gap: false, events };
  }

  private log(event: UnderstudyEvent): void {
    this.newest += 1n;
    const entry: LoggedEvent = { id: `${this.run}-${this.newest}`, event };
    if (this.ring.length < this.kept) this.ring.push(entry);
    else this.ring[this.slot(this.newest)] = entry;
    this.emitter.emit(entry);
  }

  private at(seq: bigint): LoggedEvent {
    return this.ring[this.slot(seq)] as LoggedEvent;
  }

  /** Where the event with counter `seq` sits in the ring. */
  private slot(seq: bigint): number {
    return Number((seq - 1n) % BigInt(this.kept));
  }
}
