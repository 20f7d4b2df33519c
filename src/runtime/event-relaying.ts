import type { EventEmitter } from 'cockatiel';
import type { EventRelay, RelaySubscription } from './cluster/event-relay.js';
import type { UnderstudyEvent } from './engine-events.js';

/** What {@link relayEngineEvents} connects, and what it does with failures. */
export interface RelayEngineEventsOptions {
  relay: EventRelay;
  /** The process's engine events: what the WebSocket, the dashboard, metrics and estimates listen to. */
  events: EventEmitter<UnderstudyEvent>;
  /** Whether this process shows other processes' events (a gateway does; a worker only publishes). */
  receive: boolean;
  /** Called when a publish fails (the store is down); the event is then seen only here. Default: ignored. */
  onError?: (error: unknown) => void;
}

/**
 * Every process's events reach every gateway: what this process emits is published to the relay, and (when
 * `receive`) what other processes published is emitted here as if it happened here, so the WebSocket, the dashboard
 * and /metrics see every worker's jobs. Events relayed in are never published again.
 */
export function relayEngineEvents(options: RelayEngineEventsOptions): { stop(): Promise<void> } {
  const { relay, events, onError } = options;
  let relaying = false;
  const unlisten = events.addListener((event) => {
    if (!relaying) relay.publish(event).catch((error: unknown) => onError?.(error));
  });
  const subscription: RelaySubscription | undefined = options.receive
    ? relay.subscribe((event, _id, origin) => {
        if (origin === relay.origin) return;
        // cockatiel's emit calls listeners synchronously: the flag covers exactly this event's delivery.
        relaying = true;
        try {
          events.emit(event);
        } finally {
          relaying = false;
        }
      })
    : undefined;
  return {
    stop: async () => {
      unlisten.dispose();
      await subscription?.close();
    },
  };
}
