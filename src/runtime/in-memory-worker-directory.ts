import type { Clock } from '../core/clock.js';
import type { WorkerDirectory } from './cluster/worker-directory.js';
import type { WorkerHeartbeat } from './cluster/worker-heartbeat.js';

/**
 * A worker directory in this process's memory, on its clock: what a single process (the embedded SQLite mode) uses
 * to show itself as the one worker, through the same heartbeat as a cluster's workers.
 */
export class InMemoryWorkerDirectory implements WorkerDirectory {
  private readonly entries = new Map<string, { heartbeat: WorkerHeartbeat; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  announce(heartbeat: WorkerHeartbeat, ttlMs: number): Promise<void> {
    this.entries.set(heartbeat.workerId, { heartbeat, expiresAt: this.clock.now() + ttlMs });
    return Promise.resolve();
  }

  withdraw(workerId: string): Promise<void> {
    this.entries.delete(workerId);
    return Promise.resolve();
  }

  live(): Promise<WorkerHeartbeat[]> {
    const now = this.clock.now();
    return Promise.resolve([...this.entries.values()].filter((e) => e.expiresAt > now).map((e) => e.heartbeat));
  }
}
