/** How a process joins the cluster once its engine is built: events relayed, cancels heard, by role. */
import type { CancelSignals } from '../runtime/cluster/cancel-signals.js';
import type { EventRelay } from '../runtime/cluster/event-relay.js';
import { relayEngineEvents } from '../runtime/event-relaying.js';
import type { BuiltEngine } from './build-engine.js';

/** What a process joins. */
export interface ClusterPorts {
  relay: EventRelay;
  cancels: CancelSignals;
}

/**
 * Joins `engine` to the cluster: its events are published; a gateway (`receive`) also shows every other process's;
 * a process that runs jobs (`works`) stops a job it runs as soon as any gateway cancels it. Returns what to stop.
 */
export function joinCluster(engine: BuiltEngine, ports: ClusterPorts, roles: { receive: boolean; works: boolean }): Array<{ stop(): Promise<void> }> {
  const relaying = relayEngineEvents({ relay: ports.relay, events: engine.events, receive: roles.receive });
  if (!roles.works) return [relaying];
  const unlisten = ports.cancels.onCancel((jobId, reason) => engine.runner.abort(jobId, reason));
  return [relaying, { stop: async () => unlisten() }];
}
