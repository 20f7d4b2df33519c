/**
 * A clock on Redis's time, so that every gateway and worker stamps jobs (acceptance, leases, deadlines) on one
 * clock, whatever each machine's own clock says. `now()` is the local monotonic time plus an offset calibrated
 * against Redis `TIME` (at the midpoint of the quickest of a few round trips, as NTP does: a slow one, such as the
 * first on a new connection, is lopsided) and refreshed periodically; it never goes back. Timers
 * run on the system clock: a duration is the same everywhere.
 */
import type { Redis } from 'ioredis';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { SystemClock } from '../system-clock.js';

/** Options of {@link RedisTimeClock}. */
export interface RedisTimeClockOptions {
  /** How often the offset is measured again, ms (default 60 000). */
  refreshMs?: number;
  /** The local monotonic time, ms (default `performance.now()`); for tests. */
  monotonic?: () => number;
  /** Round trips per calibration; the quickest sets the offset (default 3). */
  samples?: number;
  /** Where refresh failures go (default: ignored; the last offset stays). */
  onError?: (error: Error) => void;
}

/** Epoch milliseconds from Redis `TIME` (seconds and microseconds). */
export async function readRedisTime(redis: Redis): Promise<number> {
  const [seconds, microseconds] = (await redis.time()) as [string | number, string | number];
  return Number(seconds) * 1000 + Number(microseconds) / 1000;
}

/** A Clock whose now() is Redis's time; see the module comment. Create with {@link RedisTimeClock.start}. */
export class RedisTimeClock implements Clock {
  private offset = 0;
  private last = -Infinity;
  private readonly timers = new SystemClock();
  private refresh: TimerHandle | null = null;
  private readonly monotonic: () => number;

  private constructor(
    private readonly readTime: () => Promise<number>,
    private readonly options: RedisTimeClockOptions,
  ) {
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  /** Measures the offset once, then again every `refreshMs` until {@link stop}. `readTime` defaults to Redis TIME. */
  static async start(source: Redis | (() => Promise<number>), options: RedisTimeClockOptions = {}): Promise<RedisTimeClock> {
    const readTime = typeof source === 'function' ? source : () => readRedisTime(source);
    const clock = new RedisTimeClock(readTime, options);
    await clock.calibrate();
    clock.schedule();
    return clock;
  }

  /** Measures the offset again now. */
  async calibrate(): Promise<void> {
    let best = { roundTrip: Infinity, offset: this.offset };
    for (let i = 0; i < (this.options.samples ?? 3); i++) {
      const before = this.monotonic();
      const server = await this.readTime();
      const after = this.monotonic();
      if (after - before < best.roundTrip) best = { roundTrip: after - before, offset: server - (before + after) / 2 };
    }
    this.offset = best.offset;
  }

  now(): number {
    this.last = Math.max(this.last, Math.floor(this.monotonic() + this.offset));
    return this.last;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.timers.setTimeout(callback, ms);
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.clearTimeout(handle);
  }

  /** Stops refreshing and cancels the clock's timers. */
  stop(): void {
    this.timers.dispose();
    this.refresh = null;
  }

  private schedule(): void {
    this.refresh = this.timers.setTimeout(() => {
      this.calibrate()
        .catch((error: Error) => this.options.onError?.(error))
        .finally(() => {
          if (this.refresh !== null) this.schedule();
        });
    }, this.options.refreshMs ?? 60_000);
  }
}
