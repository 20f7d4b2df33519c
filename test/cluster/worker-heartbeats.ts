import type { BackendHeartbeat, WorkerHeartbeat } from '../../src/runtime/cluster/worker-heartbeat.js';

/** A heartbeat of one worker with one 24 GB backend; `backend` and `over` change what a test needs. */
export function heartbeat(workerId: string, backend: Partial<BackendHeartbeat> = {}, over: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat {
  return {
    workerId,
    version: '1.0.0',
    startedAt: 1_000,
    sentAt: 2_000,
    diskFreeBytes: 100 * 1024 ** 3,
    lastClaimAt: null,
    backends: [
      {
        backendId: 'gpu-0',
        slots: 1,
        busy: 0,
        vramTotalGb: 24,
        vramFreeGb: 20,
        installed: ['ti2v-5B'],
        loaded: [],
        downloading: [],
        health: 'healthy',
        breakerOpen: false,
        ...backend,
      },
    ],
    ...over,
  };
}
