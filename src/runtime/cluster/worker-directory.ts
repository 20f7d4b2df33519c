import type { WorkerHeartbeat } from './worker-heartbeat.js';

/** How long a heartbeat keeps a worker in rotation, ms: a worker that stops heartbeating is out within this. */
export const DEFAULT_HEARTBEAT_TTL_MS = 15_000;

/** How often a worker heartbeats, ms: three beats per TTL, so one lost beat does not drop a live worker. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

/**
 * Port: the live workers. A worker announces itself with a TTL and refreshes it; when it stops (crash, partition,
 * SIGSTOP) its entry expires on the directory's side, not on anyone's clock.
 */
export interface WorkerDirectory {
  /** Records (or refreshes) `heartbeat`; the worker counts as live for `ttlMs` from now. */
  announce(heartbeat: WorkerHeartbeat, ttlMs: number): Promise<void>;
  /** Takes the worker out of rotation at once (clean shutdown). Unknown ids are ignored. */
  withdraw(workerId: string): Promise<void>;
  /** The heartbeats of every worker whose TTL has not lapsed, by worker id. */
  live(): Promise<WorkerHeartbeat[]>;
}
