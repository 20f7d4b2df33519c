import type { SystemHealthStatus } from '../core/health-assessment.js';
import type { FallbackStrategy } from '../core/planning.js';
import type { Confidence, ModelAvailability } from '../core/vocabulary.js';
import type { RecoveryAttempt, SystemStatus } from './recovery/fallback-recovery-system.js';
import type { JobState } from './job.js';

/** Every event the engine emits; the WebSocket forwards them as they are (`type` first). `at` is epoch ms. */
export type UnderstudyEvent =
  | {
      type: 'job.accepted' | 'job.started' | 'job.succeeded' | 'job.failed' | 'job.cancelled' | 'job.expired' | 'job.requeued' | 'job.waiting' | 'job.released';
      at: number;
      jobId: string;
      status: JobState;
      model: string;
      message: string;
    }
  | { type: 'job.progress'; at: number; jobId: string; progress: number; message: string }
  /** A job's estimate moved (or was first made): start and result times, epoch ms, null when nothing can run it. */
  | { type: 'job.estimate'; at: number; jobId: string; startAt: number | null; resultAt: number | null; confidence: Confidence; message: string }
  | { type: 'job.replanned'; at: number; jobId: string; strategy: FallbackStrategy['strategyType']; model: string; message: string }
  | { type: 'model.status'; at: number; modelId: string; status: ModelAvailability; backendId: string }
  | { type: 'model.loaded' | 'model.unloaded'; at: number; modelId: string; backendId: string; detail: string }
  /** Where a cluster downloads a model: the worker chosen (again when the last one left), or null with why none can yet. */
  | { type: 'download.placed'; at: number; modelId: string; workerId: string | null; message: string }
  | { type: 'download.progress'; at: number; modelId: string; bytesDone: number; bytesTotal: number; bytesPerSecond: number; etaSeconds: number | null }
  | { type: 'recovery_attempt'; at: number; attempt: RecoveryAttempt }
  | { type: 'health_status'; at: number; health: SystemHealthStatus }
  | { type: 'system_status'; at: number; status: SystemStatus };

/** The `type` values of {@link UnderstudyEvent}. */
export type UnderstudyEventType = UnderstudyEvent['type'];
