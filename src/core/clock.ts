/**
 * Time as a port. Production code uses the system clock, tests a manual one and the simulator a virtual one,
 * so nothing in Understudy reads the wall clock or starts a timer on its own.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` once `ms` milliseconds have passed on this clock. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** Opaque handle of a timer started on a Clock. */
export interface TimerHandle {
  readonly id: number;
}

/**
 * Resolves after `ms` on `clock`; rejects with the signal's reason when aborted first. It starts no timer of its own:
 * the wait is a timer of the given clock.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason as Error);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
