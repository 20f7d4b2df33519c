/** How a process joins the cluster once its engine is built: events relayed, cancels and work heard, downloads served, by role. */
import type { CancelSignals } from '../runtime/cluster/cancel-signals.js';
import type { EventRelay } from '../runtime/cluster/event-relay.js';
import type { RelayEventLog } from '../runtime/cluster/relay-event-log.js';
import type { WorkSignals } from '../runtime/cluster/work-signals.js';
import type { WorkerControl } from '../runtime/cluster/worker-control.js';
import { relayEngineEvents } from '../runtime/event-relaying.js';
import type { BuiltEngine } from './build-engine.js';

/** What a process joins. */
export interface ClusterPorts {
  relay: EventRelay;
  cancels: CancelSignals;
  work: WorkSignals;
  control: WorkerControl;
}

/** How a process takes part: whether it runs jobs, and (a gateway) the event log its WebSocket reads. */
export interface ClusterRoles {
  works: boolean;
  /** The process's worker id: a process that runs jobs serves its control channel under it. */
  workerId: string;
  /** A gateway's log on the relay: started here, it feeds every other process's events to the engine. */
  log?: RelayEventLog;
}

/**
 * Joins `engine` to the cluster: its events are published; a gateway (`log`) also shows every other process's;
 * a process that runs jobs (`works`) stops a job it runs as soon as any gateway cancels it, looks for work as soon as
 * any process queues a job, and downloads a model here when a gateway asks it through its control channel. Returns
 * what to stop.
 */
export async function joinCluster(engine: BuiltEngine, ports: ClusterPorts, roles: ClusterRoles): Promise<Array<{ stop(): Promise<void> }>> {
  const { log } = roles;
  await log?.start();
  const relaying = relayEngineEvents({ relay: ports.relay, events: engine.events, ...(log ? { incoming: log.onLogged } : {}) });
  const parts = [relaying, ...(log ? [log] : [])];
  if (!roles.works) return parts;
  const unlisten = ports.cancels.onCancel((jobId, reason) => engine.runner.abort(jobId, reason));
  const unwork = ports.work.onWork(() => engine.scheduler.wake());
  const served = ports.control.serve(roles.workerId, { download: (modelId) => engine.downloads.downloadHere(modelId) });
  const signals = {
    stop: async () => {
      unlisten();
      unwork();
    },
  };
  return [...parts, signals, { stop: () => served.close() }];
}
