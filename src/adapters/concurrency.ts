/**
 * The adapters' two concurrency mechanisms, each with one home, on p-queue (which keeps no time of its own here: no
 * timeout or interval options are used, so nothing reads the wall clock): a semaphore whose waiters can give up
 * (abort), and a serial lock.
 */
import PQueue from 'p-queue';
import { abortError } from '../runtime/backend.js';

/** At most `permits` holders at once; the others wait in line, first come first served. */
export class Semaphore {
  private readonly queue: PQueue;

  constructor(readonly permits: number) {
    this.queue = new PQueue({ concurrency: permits });
  }

  /** Holders now. */
  get inUse(): number {
    return this.queue.pending;
  }

  /**
   * Takes a permit, waiting in line when all are taken; resolves with the function that gives it back (calling it
   * twice gives it back once). Aborting `signal` while waiting rejects with an AbortError and takes nothing.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        settled = true;
        reject(abortError(signal as AbortSignal));
      };
      void this.queue.add(
        () =>
          new Promise<void>((release) => {
            signal?.removeEventListener('abort', onAbort);
            if (settled) return release(); // gave up while waiting: hand the permit on at once
            settled = true;
            resolve(() => release());
          }),
      );
      if (settled) return;
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs `task` holding a permit. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }
}

/** Runs tasks one at a time, in the order they were handed in. */
export class SerialLock {
  private readonly queue = new PQueue({ concurrency: 1 });

  /** Runs `task` after every earlier one has settled; settles as it does. */
  exclusively<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.add(task, { throwOnTimeout: true });
  }
}
