/**
 * A simulated network link that downloads share: its throughput is split equally between the transfers running at
 * once, so a second download halves the first one's speed and the survivor speeds up when one ends (as on a real
 * uplink). Runs on the injected Clock; several simulated backends may share one link, as GPUs behind one connection do.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

interface Transfer {
  remaining: number;
  total: number;
  done: Promise<void>;
  resolve: () => void;
}

/** What one transfer has done, and its current share of the link. */
export interface TransferProgress {
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
}

/** The shared link. */
export class SimulatedLink {
  private readonly transfers = new Map<string, Transfer>();
  private updatedAt: number;
  private timer: TimerHandle | undefined;

  /** @param bytesPerSecond the link's total throughput, in bytes per second of clock time */
  constructor(
    private readonly bytesPerSecond: number,
    private readonly clock: Clock,
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.updatedAt = clock.now();
  }

  /** Moves `bytes` under `id`; a transfer already under way for `id` is joined. Resolves when the bytes are in. */
  transfer(id: string, bytes: number): Promise<void> {
    const running = this.transfers.get(id);
    if (running) return running.done;
    this.advance();
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.transfers.set(id, { remaining: Math.max(0, bytes), total: Math.max(0, bytes), done, resolve });
    this.reschedule();
    return done;
  }

  /** Progress of the transfer `id`, or undefined when none runs. */
  progress(id: string): TransferProgress | undefined {
    this.advance();
    const t = this.transfers.get(id);
    if (!t) return undefined;
    return { bytesDone: t.total - t.remaining, bytesTotal: t.total, bytesPerSecond: this.bytesPerSecond / this.transfers.size };
  }

  /** Takes every transfer's share of the bytes since the last update. */
  private advance(): void {
    const now = this.clock.now();
    const elapsed = (now - this.updatedAt) / 1000;
    this.updatedAt = now;
    if (elapsed <= 0 || this.transfers.size === 0) return;
    const share = (this.bytesPerSecond / this.transfers.size) * elapsed;
    for (const t of this.transfers.values()) t.remaining = Math.max(0, t.remaining - share);
  }

  /** Ends the transfers that are complete and sets a timer for the next one to end. */
  private reschedule(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const [id, t] of this.transfers) {
      if (t.remaining > 0.5) continue;
      this.transfers.delete(id);
      t.resolve();
    }
    if (this.transfers.size === 0) return;
    const least = Math.min(...[...this.transfers.values()].map((t) => t.remaining));
    const ms = (least / (this.bytesPerSecond / this.transfers.size)) * 1000;
    this.timer = this.clock.setTimeout(() => {
      this.advance();
      this.reschedule();
    }, ms);
  }
}
