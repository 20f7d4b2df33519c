/** Clocks for tests and the simulator: time that moves only when told. The real clock is an adapter (adapters/system-clock.ts). */
import type { Clock, TimerHandle } from '../core/clock.js';

interface ManualTimer {
  id: number;
  due: number;
  callback: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` fires every timer that falls due in order, letting promise
 * callbacks settle after each one, so code that awaits a sleep on this clock runs as it would in real time.
 */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers: ManualTimer[] = [];

  /** @param start epoch milliseconds to start at (default 2026-01-01T00:00:00Z) */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ id, due: this.current + Math.max(0, ms), callback });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle.id);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = this.earliestDue(target);
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.due);
      next.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }

  /** Lets pending promise callbacks run without moving time. */
  async flush(): Promise<void> {
    await settle();
  }

  private earliestDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.due <= limit && (!best || t.due < best.due || (t.due === best.due && t.id < best.id))) best = t;
    }
    return best;
  }
}

/** Waits until the event loop has run every pending promise callback and I/O callback queued so far. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
