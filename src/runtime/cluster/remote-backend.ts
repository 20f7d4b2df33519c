/**
 * The gateway's view of the GPU backends of live workers, from their heartbeats: enough for the planner, the
 * estimator and availability (slots, VRAM, installed and loaded models, downloads), and nothing that runs work.
 */
import { EventEmitter, type Event } from 'cockatiel';
import type { AvailabilitySnapshot, AvailabilitySource, ModelStatus } from '../../core/availability.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Backend, GeneratedOutput, VramUsage } from '../backend.js';
import { BackendAvailability } from '../backend-availability.js';
import type { TargetHealth } from '../recovery/recovery-target.js';
import type { BackendHeartbeat, WorkerHeartbeat } from './worker-heartbeat.js';
import type { WorkerDirectory } from './worker-directory.js';

/** Thrown when something tries to run work (a generation, a recovery action) on a remote backend's view. */
export class RemoteBackendError extends Error {
  override readonly name = 'RemoteBackendError';

  constructor(
    /** What was asked, e.g. `generate` or `restartPipeline`. */
    readonly operation: string,
    /** The view's id, `<workerId>/<backendId>`. */
    readonly backendId: string,
  ) {
    super(`${operation} cannot run on ${backendId}: it is a read-only view of another worker's backend; work reaches it through the job queue`);
  }
}

/** Type guard for {@link RemoteBackendError}. */
export function isRemoteBackendError(error: unknown): error is RemoteBackendError {
  return error instanceof RemoteBackendError;
}

/**
 * One backend of a live worker, as its last heartbeat describes it. Its id is `<workerId>/<backendId>`, unique
 * across workers. Models of `knownModels` it neither has nor downloads read as `missing`.
 */
export class RemoteBackend implements Backend {
  readonly id: string;

  constructor(
    readonly workerId: string,
    private state: BackendHeartbeat,
    private readonly knownModels: readonly string[] = [],
  ) {
    this.id = `${workerId}/${state.backendId}`;
  }

  /** The backend's id on its worker. */
  get backendId(): string {
    return this.state.backendId;
  }

  get slots(): number {
    return this.state.slots;
  }

  /** The heartbeat this view shows. */
  get heartbeat(): Readonly<BackendHeartbeat> {
    return this.state;
  }

  /** Replaces the heartbeat this view shows (a newer one of the same backend). */
  update(state: BackendHeartbeat): void {
    this.state = state;
  }

  generate(): Promise<GeneratedOutput> {
    return this.refuse('generate');
  }

  loadedModels(): Promise<string[]> {
    return Promise.resolve([...this.state.loaded]);
  }

  vram(): Promise<VramUsage | null> {
    const { vramTotalGb, vramFreeGb } = this.state;
    if (vramTotalGb === null) return Promise.resolve(null);
    return Promise.resolve({ totalGb: vramTotalGb, usedGb: Math.max(0, vramTotalGb - (vramFreeGb ?? 0)) });
  }

  installedModels(): Promise<ModelStatus[]> {
    const statuses = new Map<string, ModelStatus>();
    for (const modelId of this.knownModels) statuses.set(modelId, { modelId, status: 'missing' });
    for (const d of this.state.downloading) {
      const left = d.bytesTotal === null ? null : d.bytesTotal - d.bytesDone;
      statuses.set(d.modelId, {
        modelId: d.modelId,
        status: 'downloading',
        bytesPresent: d.bytesDone,
        ...(d.bytesTotal !== null && { bytesTotal: d.bytesTotal }),
        ...(left !== null && d.etaSeconds !== null && d.etaSeconds > 0 && { downloadBytesPerSecond: left / d.etaSeconds }),
      });
    }
    for (const modelId of this.state.installed) statuses.set(modelId, { modelId, status: 'available' });
    return Promise.resolve([...statuses.values()]);
  }

  freeGpuMemory(): Promise<void> {
    return this.refuse('freeGpuMemory');
  }

  unloadModels(): Promise<void> {
    return this.refuse('unloadModels');
  }

  restartPipeline(): Promise<void> {
    return this.refuse('restartPipeline');
  }

  setOffloadMode(): Promise<void> {
    return this.refuse('setOffloadMode');
  }

  ensureModelDownloaded(): Promise<void> {
    return this.refuse('ensureModelDownloaded');
  }

  applyVramOptimization(): Promise<void> {
    return this.refuse('applyVramOptimization');
  }

  /** Reads the heartbeat: unhealthy while the backend's breaker is open or its machine is critical. */
  checkHealth(): Promise<TargetHealth> {
    if (this.state.breakerOpen) return Promise.resolve({ healthy: false, reason: `${this.id}'s circuit breaker is open` });
    if (this.state.health === 'critical') return Promise.resolve({ healthy: false, reason: `${this.workerId} reports critical health` });
    return Promise.resolve({ healthy: true });
  }

  private refuse(operation: string): Promise<never> {
    return Promise.reject(new RemoteBackendError(operation, this.id));
  }
}

/** Options of {@link RemoteBackends}. */
export interface RemoteBackendsOptions {
  directory: WorkerDirectory;
  clock: Clock;
  /** Clock time between reads of the directory, ms (default 2000). */
  refreshMs?: number;
  /** Catalog model ids, reported `missing` on a live backend that neither has nor downloads them (default none). */
  knownModels?: readonly string[];
  /** Called when a read of the directory fails (Redis down); the last set stays until the next read. Default: ignored. */
  onError?: (error: unknown) => void;
}

/** Who joined and who left at a refresh. */
export interface WorkersChange {
  joined: string[];
  left: string[];
}

/**
 * The backends of every live worker, kept current from the directory. {@link backends} is one array, updated in
 * place, so parts built over a backend list (availability, VRAM reporting) see workers come and go.
 */
export class RemoteBackends implements AvailabilitySource {
  /** Every live worker's backends; the same array instance for the life of this object. */
  readonly backends: RemoteBackend[] = [];
  private readonly changeEmitter = new EventEmitter<WorkersChange>();
  /** Fires after a refresh in which workers joined or left. */
  readonly onChange: Event<WorkersChange> = this.changeEmitter.addListener;
  private readonly availability = new BackendAvailability(this.backends);
  private readonly refreshMs: number;
  private heartbeats = new Map<string, WorkerHeartbeat>();
  private timer: TimerHandle | undefined;
  private running = false;

  constructor(private readonly options: RemoteBackendsOptions) {
    this.refreshMs = options.refreshMs ?? 2000;
  }

  /** Reads the directory now and then every `refreshMs`. */
  async start(): Promise<void> {
    this.running = true;
    await this.tick();
  }

  /** Stops reading the directory; the last set stays. */
  stop(): void {
    this.running = false;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
  }

  /** The live workers' heartbeats, as last read, by worker id. */
  get workers(): WorkerHeartbeat[] {
    return [...this.heartbeats.values()].sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  /** The best status of each model across live workers (an installed model anywhere is available). */
  snapshot(): Promise<AvailabilitySnapshot> {
    return this.availability.snapshot();
  }

  /** Slots across live workers' backends whose breaker is closed, and how many of them are busy. */
  capacity(): { slots: number; busy: number } {
    const open = this.backends.filter((b) => !b.heartbeat.breakerOpen);
    return { slots: open.reduce((n, b) => n + b.slots, 0), busy: open.reduce((n, b) => n + b.heartbeat.busy, 0) };
  }

  /** Reads the directory and brings {@link backends} up to date. */
  async refresh(): Promise<WorkersChange> {
    const live = await this.options.directory.live();
    const next = new Map(live.map((hb) => [hb.workerId, hb]));
    const change: WorkersChange = {
      joined: [...next.keys()].filter((id) => !this.heartbeats.has(id)),
      left: [...this.heartbeats.keys()].filter((id) => !next.has(id)),
    };
    this.heartbeats = next;
    const current = new Map(this.backends.map((b) => [b.id, b]));
    const updated: RemoteBackend[] = [];
    for (const hb of live) {
      for (const state of hb.backends) {
        const existing = current.get(`${hb.workerId}/${state.backendId}`);
        if (existing) existing.update(state);
        updated.push(existing ?? new RemoteBackend(hb.workerId, state, this.options.knownModels));
      }
    }
    updated.sort((a, b) => a.id.localeCompare(b.id));
    this.backends.splice(0, this.backends.length, ...updated);
    if (change.joined.length > 0 || change.left.length > 0) this.changeEmitter.emit(change);
    return change;
  }

  private async tick(): Promise<void> {
    try {
      await this.refresh();
    } catch (error) {
      this.options.onError?.(error);
    }
    if (this.running) this.timer = this.options.clock.setTimeout(() => void this.tick(), this.refreshMs);
  }
}
