import type { Clock, TimerHandle } from '../core/clock.js';
import type { Backend } from './backend.js';
import type { UnderstudyEvent } from './engine-events.js';

/** What {@link reportBackendDownload} needs. */
export interface BackendDownloadProgressContext {
  clock: Clock;
  emit: (event: UnderstudyEvent) => void;
  /** Clock time between readings, milliseconds. */
  intervalMs: number;
}

/**
 * Reports a download that a backend runs itself (it has no progress events of its own) as `download.progress`
 * events: reads the backend's model statuses every `intervalMs` of clock time and emits the bytes present, the speed
 * and the time left while the model is downloading. Returns a function that stops the readings.
 */
export function reportBackendDownload(backend: Backend, modelId: string, ctx: BackendDownloadProgressContext): () => void {
  let timer: TimerHandle | undefined;
  let stopped = false;
  const read = async (): Promise<void> => {
    const status = (await backend.installedModels().catch(() => [])).find((m) => m.modelId === modelId);
    if (stopped) return;
    if (status?.status === 'downloading' && status.bytesTotal !== undefined) {
      const bytesDone = status.bytesPresent ?? 0;
      const bytesPerSecond = status.downloadBytesPerSecond ?? 0;
      const etaSeconds = bytesPerSecond > 0 ? (status.bytesTotal - bytesDone) / bytesPerSecond : null;
      ctx.emit({ type: 'download.progress', at: ctx.clock.now(), modelId, bytesDone, bytesTotal: status.bytesTotal, bytesPerSecond, etaSeconds });
    }
    timer = ctx.clock.setTimeout(() => void read(), ctx.intervalMs);
  };
  void read();
  return () => {
    stopped = true;
    if (timer) ctx.clock.clearTimeout(timer);
  };
}
