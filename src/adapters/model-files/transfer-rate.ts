/**
 * Download speed smoothed by an exponentially weighted moving average over periodic samples, and the time left it
 * implies. Timestamps come from the caller (a Clock), so the estimate is deterministic under a manual clock.
 */
export class TransferRate {
  private lastAt: number | undefined;
  private lastBytes = 0;
  private smoothed: number | undefined;

  /** @param smoothing weight of the newest sample, in (0, 1]; 1 keeps only the latest sample */
  constructor(private readonly smoothing: number) {}

  /** Smoothed speed in bytes per second, undefined before the first sample. */
  get bytesPerSecond(): number | undefined {
    return this.smoothed;
  }

  /** Sets the baseline for the next sample (start of a transfer, or after a pause); keeps the smoothed speed. */
  restart(at: number, bytes: number): void {
    this.lastAt = at;
    this.lastBytes = bytes;
  }

  /** Records that `bytes` have been transferred by time `at` (ms); returns the smoothed speed. */
  sample(at: number, bytes: number): number | undefined {
    if (this.lastAt === undefined) {
      this.restart(at, bytes);
      return this.smoothed;
    }
    const elapsedMs = at - this.lastAt;
    if (elapsedMs <= 0) return this.smoothed;
    const instant = ((bytes - this.lastBytes) * 1000) / elapsedMs;
    this.smoothed = this.smoothed === undefined ? instant : this.smoothing * instant + (1 - this.smoothing) * this.smoothed;
    this.restart(at, bytes);
    return this.smoothed;
  }

  /** Seconds to transfer `remainingBytes` at the smoothed speed; undefined while the speed is unknown or zero. */
  etaSeconds(remainingBytes: number): number | undefined {
    if (remainingBytes <= 0) return 0;
    return this.smoothed ? remainingBytes / this.smoothed : undefined;
  }
}
