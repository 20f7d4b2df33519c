/**
 * A worker's heartbeat: what its backends hold and do right now, read from the engine parts that already know it,
 * announced to the worker directory every few seconds on the engine clock.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { Backend } from '../backend.js';
import type { BackendAvailability } from '../backend-availability.js';
import type { ModelDownloads } from '../model-downloads.js';
import type { FallbackRecoverySystem } from '../recovery/fallback-recovery-system.js';
import type { Scheduler } from '../scheduler.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_HEARTBEAT_TTL_MS, type WorkerDirectory } from './worker-directory.js';
import type { BackendHeartbeat, HeartbeatDownload, WorkerHeartbeat } from './worker-heartbeat.js';

/** What a {@link HeartbeatPublisher} reads and where it announces. */
export interface HeartbeatPublisherOptions {
  workerId: string;
  /** Understudy version the worker runs. */
  version: string;
  clock: Clock;
  directory: WorkerDirectory;
  /** The worker's GPU backends (not the preview renderer). */
  backends: readonly Backend[];
  availability: Pick<BackendAvailability, 'readyOn'>;
  scheduler: Pick<Scheduler, 'busyOn' | 'lastClaimAt'>;
  downloads: Pick<ModelDownloads, 'inProgress'>;
  recovery: Pick<FallbackRecoverySystem, 'isAvailable' | 'latestHealthStatus'>;
  /** Clock time between heartbeats, ms (default 5000). */
  intervalMs?: number;
  /** How long each heartbeat keeps the worker live, ms (default 15 000). */
  ttlMs?: number;
  /** Epoch ms the worker started (default: when the publisher was made). */
  startedAt?: number;
  /** Called when an announce fails (Redis down); the next beat tries again. Default: ignored. */
  onError?: (error: unknown) => void;
}

/** Builds and announces the worker's heartbeat every `intervalMs`; {@link stop} withdraws the worker. */
export class HeartbeatPublisher {
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private readonly startedAt: number;
  private timer: TimerHandle | undefined;
  private running = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly options: HeartbeatPublisherOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.ttlMs = options.ttlMs ?? DEFAULT_HEARTBEAT_TTL_MS;
    if (!(this.intervalMs > 0 && this.intervalMs < this.ttlMs)) {
      throw new RangeError(`heartbeat intervalMs (${this.intervalMs}) must be above 0 and below ttlMs (${this.ttlMs})`);
    }
    this.startedAt = options.startedAt ?? options.clock.now();
  }

  /** Announces the worker now and then every `intervalMs`; resolves after the first announce. */
  async start(): Promise<void> {
    this.running = true;
    this.inFlight = this.beat();
    await this.inFlight;
  }

  /** Stops beating and withdraws the worker from the directory. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight; // a beat under way must not land after the withdrawal
    await this.options.directory.withdraw(this.options.workerId);
  }

  /** The worker's state right now. */
  async heartbeat(): Promise<WorkerHeartbeat> {
    const { options } = this;
    const downloads = options.downloads.inProgress();
    return {
      workerId: options.workerId,
      version: options.version,
      startedAt: this.startedAt,
      sentAt: options.clock.now(),
      diskFreeBytes: options.recovery.latestHealthStatus?.diskFreeBytes ?? null,
      lastClaimAt: options.scheduler.lastClaimAt,
      backends: await Promise.all(options.backends.map((b) => this.backendHeartbeat(b, downloads))),
    };
  }

  private async beat(): Promise<void> {
    try {
      await this.options.directory.announce(await this.heartbeat(), this.ttlMs);
    } catch (error) {
      this.options.onError?.(error);
    }
    if (!this.running) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.inFlight = this.beat();
    }, this.intervalMs);
  }

  /** One backend: its own downloads as it reports them now, plus the worker-wide ones (the models directory). */
  private async backendHeartbeat(backend: Backend, machineDownloads: readonly HeartbeatDownload[]): Promise<BackendHeartbeat> {
    const { availability, scheduler, recovery } = this.options;
    const [ready, loaded, vram, statuses] = await Promise.all([availability.readyOn(backend), backend.loadedModels(), backend.vram(), backend.installedModels()]);
    const downloading = new Map<string, HeartbeatDownload>();
    for (const s of statuses) {
      if (s.status !== 'downloading') continue;
      const rate = s.downloadBytesPerSecond ?? 0;
      const bytesDone = s.bytesPresent ?? 0;
      const etaSeconds = rate > 0 && s.bytesTotal !== undefined ? (s.bytesTotal - bytesDone) / rate : null;
      downloading.set(s.modelId, { modelId: s.modelId, bytesDone, bytesTotal: s.bytesTotal ?? null, etaSeconds });
    }
    for (const d of machineDownloads) if (!downloading.has(d.modelId)) downloading.set(d.modelId, d);
    const installed = [...ready].sort();
    const unavailableModels = installed.filter((m) => !recovery.isAvailable(backend.id, m));
    return {
      backendId: backend.id,
      slots: backend.slots,
      busy: scheduler.busyOn(backend.id),
      vramTotalGb: vram?.totalGb ?? null,
      vramFreeGb: vram ? Math.max(0, vram.totalGb - vram.usedGb) : null,
      installed,
      loaded,
      downloading: [...downloading.values()],
      health: recovery.latestHealthStatus?.overallStatus ?? 'healthy', // before the first check: nothing says otherwise
      breakerOpen: !recovery.isAvailable(backend.id),
      ...(unavailableModels.length > 0 && { unavailableModels }),
    };
  }
}
