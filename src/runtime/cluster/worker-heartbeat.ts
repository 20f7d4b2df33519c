/**
 * What a worker tells every gateway about itself, several times per TTL: the same JSON in every store, so a gateway
 * plans on the union of live workers without talking to them.
 */
import type { OverallHealth } from '../../core/health-assessment.js';
import type { DownloadInProgress } from '../model-downloads.js';

/** A model download under way on a worker: bytes done, total (null until known), seconds left (null until measured). */
export type HeartbeatDownload = DownloadInProgress;

/** One backend of a worker as it is now. */
export interface BackendHeartbeat {
  /** The backend's id on its worker (unique within the worker, not across workers). */
  backendId: string;
  /** Generations it runs at once. */
  slots: number;
  /** Slots in use now. */
  busy: number;
  /** GPU memory, GiB; null for a backend without a GPU or when it could not be read. */
  vramTotalGb: number | null;
  vramFreeGb: number | null;
  /** Models whose files are present and verified (status `available`). */
  installed: string[];
  /** Models loaded in GPU memory. */
  loaded: string[];
  downloading: HeartbeatDownload[];
  /** The worker's machine health as its monitor last assessed it. */
  health: OverallHealth;
  /** The backend's own breaker is open: it takes no work until it half-opens. */
  breakerOpen: boolean;
  /** Installed models whose per-model breaker is open on this backend. */
  unavailableModels?: string[];
}

/** One worker process and its backends. */
export interface WorkerHeartbeat {
  /** Names the worker (`--id`, default host name + pid). */
  workerId: string;
  /** Understudy version the worker runs. */
  version: string;
  /** Epoch ms the worker started. */
  startedAt: number;
  /** Epoch ms this heartbeat was built, on the worker's clock. */
  sentAt: number;
  /** Free bytes on the worker's data disk (its last health check), null when unknown: where downloads can go. */
  diskFreeBytes: number | null;
  /** Epoch ms of the worker's last claim, null before its first: a watchdog for a worker that stopped claiming. */
  lastClaimAt: number | null;
  backends: BackendHeartbeat[];
}

