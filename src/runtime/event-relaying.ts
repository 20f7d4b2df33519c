import type { Event, EventEmitter } from 'cockatiel';
import type { EventRelay, RelayedEvent } from './cluster/event-relay.js';
import type { UnderstudyEvent } from './engine-events.js';

/** What {@link relayEngineEvents} connects, and what it does with failures. */
export interface RelayEngineEventsOptions {
  relay: EventRelay;
  /** The process's engine events: what the WebSocket, the dashboard, metrics and estimates listen to. */
  events: EventEmitter<UnderstudyEvent>;
  /**
   * What the relay delivers, on a process that shows other processes' events (a gateway: its RelayEventLog's feed).
   * Default none: a worker only publishes.
   */
  incoming?: Event<RelayedEvent>;
  /** Called when a publish fails (the store is down); the event is then seen only here. Default: ignored. */
  onError?: (error: unknown) => void;
}

/**
 * Every process's events reach every gateway: what this process emits is published to the relay, and what other
 * processes published (`incoming`) is emitted here as if it happened here, so the dashboard, metrics and estimates
 * see every worker's jobs. Events relayed in are never published again. A published event's `backendId` names the
 * backend across the cluster, `<process>/<backend>`, as the gateways' views of the workers' backends do.
 */
export function relayEngineEvents(options: RelayEngineEventsOptions): { stop(): Promise<void> } {
  const { relay, events, onError } = options;
  let relaying = false;
  const unlisten = events.addListener((event) => {
    if (!relaying) relay.publish(withWorkerBackend(event, relay.origin)).catch((error: unknown) => onError?.(error));
  });
  const unfeed = options.incoming?.(({ event, origin }) => {
    if (origin === relay.origin) return;
    // cockatiel's emit calls listeners synchronously: the flag covers exactly this event's delivery.
    relaying = true;
    try {
      events.emit(event);
    } finally {
      relaying = false;
    }
  });
  return {
    stop: async () => {
      unlisten.dispose();
      unfeed?.dispose();
    },
  };
}

/** `event` with its `backendId`, if it has one, as `<origin>/<backendId>` (the id the cluster knows the backend by). */
export function withWorkerBackend(event: UnderstudyEvent, origin: string): UnderstudyEvent {
  if (!('backendId' in event) || event.backendId.startsWith(`${origin}/`)) return event;
  return { ...event, backendId: `${origin}/${event.backendId}` };
}
