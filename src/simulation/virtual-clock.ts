/**
 * The simulator's clock: time jumps straight to the next timer, but only once the engine has nothing left to do at
 * the current instant (no promise callbacks, no file I/O under way), so a job's recorded end is not pushed later by
 * how long the disk took. Hours of traffic replay in seconds.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

interface VirtualTimer {
  id: number;
  due: number;
  callback: () => void;
}

/** Resource kinds (process.getActiveResourcesInfo) that mean file I/O is still under way. */
const IO_RESOURCES = /^(FSReq|FileHandle|CloseReq|Statfs)/;

/** Most turns of the event loop to wait for the engine to go quiet at one instant. */
const MAX_SETTLE_TURNS = 10_000;

export class VirtualClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers: VirtualTimer[] = [];

  /** @param start epoch milliseconds (default 2026-01-01T00:00:00Z) */
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
    const index = this.timers.findIndex((t) => t.id === handle.id);
    if (index >= 0) this.timers.splice(index, 1);
  }

  /** Epoch ms of the next timer, or undefined when none is pending. */
  get nextDue(): number | undefined {
    return this.earliest()?.due;
  }

  /** Fires every timer due up to `target` in order, letting the engine go quiet after each; then time is `target`. */
  async runUntil(target: number): Promise<void> {
    await settle();
    for (;;) {
      const next = this.earliest();
      if (!next || next.due > target) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = Math.max(this.current, next.due);
      next.callback();
      await settle();
    }
    this.current = Math.max(this.current, target);
    await settle();
  }

  private earliest(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.timers) if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    return best;
  }
}

/** Waits until two turns in a row find no file or other I/O under way. */
async function settle(): Promise<void> {
  let quiet = 0;
  for (let turn = 0; turn < MAX_SETTLE_TURNS && quiet < 2; turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const busy = process.getActiveResourcesInfo().some((r) => IO_RESOURCES.test(r));
    quiet = busy ? 0 : quiet + 1;
  }
}
