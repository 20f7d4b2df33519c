import { EventEmitter, type Event } from 'cockatiel';
import type { EventLog, EventsAfter } from '../event-log.js';
import type { EventRelay, RelayedEvent, RelaySubscription } from './event-relay.js';

/**
 * {@link EventLog} of a gateway on the cluster's relay: ids are the relay's (the Redis stream's), the same on every
 * gateway; live events come from one subscription (every process's, this one's included), and what a client missed
 * is read back from the relay, which keeps it across gateway restarts.
 */
export class RelayEventLog implements EventLog {
  /** Every relayed event from {@link start} on, with the process it came from. */
  readonly onLogged: Event<RelayedEvent>;
  private readonly emitter = new EventEmitter<RelayedEvent>();
  private subscription: RelaySubscription | undefined;

  constructor(private readonly relay: EventRelay) {
    this.onLogged = this.emitter.addListener;
  }

  /** Subscribes to the relay from now on; resolves once live events flow. */
  async start(): Promise<void> {
    this.subscription ??= this.relay.subscribe((event, id, origin) => this.emitter.emit({ id, event, origin }));
    await this.subscription.ready;
  }

  async after(since: string, limit: number): Promise<EventsAfter> {
    // Read only once the live feed runs: whatever the read does not return, the feed then delivers.
    if (!this.subscription) throw new Error('the event log is not started');
    await this.subscription.ready;
    const read = await this.relay.readAfter(since, limit);
    return read.gap ? read : { gap: false, events: read.events.map(({ id, event }) => ({ id, event })) };
  }

  /** Ends the subscription. */
  async stop(): Promise<void> {
    await this.subscription?.close();
    this.subscription = undefined;
  }
}
