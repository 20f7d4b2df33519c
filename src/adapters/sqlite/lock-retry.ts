import { sleep, type Clock } from '../../core/clock.js';

/** The longest SQLite blocks the event loop on a lock held by another process, per try, ms. */
export const LOCK_SPIN_MS = 10;

/** Longest pause between two tries at a lock held by another process, ms (the pause doubles from 1 ms). */
const LOCK_RETRY_MAX_PAUSE_MS = 50;

/** SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * Runs `transaction`, trying again while another process holds the database locked (SQLite refuses before running
 * any of it, after spinning at most {@link LOCK_SPIN_MS}), with pauses of 1, 2, 4 ... up to 50 ms on `clock`, until
 * `waitMs` has passed: then the `SQLITE_BUSY` error is thrown. The event loop turns during the pauses.
 */
export async function retryWhileLocked<T>(transaction: () => T, clock: Clock, waitMs: number): Promise<T> {
  const started = clock.now();
  for (let pause = 1; ; pause = Math.min(pause * 2, LOCK_RETRY_MAX_PAUSE_MS)) {
    try {
      return transaction();
    } catch (error) {
      if (!isBusyError(error) || clock.now() - started >= waitMs) throw error;
    }
    await sleep(clock, pause);
  }
}
