/** One exponential backoff with jitter, shared by recovery's download retries and the model-file downloader. */

/** How the delay grows. */
export interface BackoffOptions {
  /** Delay after the first failed try, ms. */
  readonly initialMs: number;
  /** Growth per further failed try (≥ 1). */
  readonly multiplier: number;
  /** Longest delay before jitter, ms. */
  readonly maxMs: number;
  /** Spread as a share of the delay, in [0, 1]: 0.2 gives ± 20 %. */
  readonly jitterRatio: number;
}

/**
 * Milliseconds to wait after failed try number `failedTry` (1-based): initialMs × multiplier^(failedTry − 1), capped
 * at maxMs, then spread by ± jitterRatio using `random` (a number in [0, 1); 0.5 means no spread). Rounded to whole ms.
 */
export function exponentialBackoffMs(options: BackoffOptions, failedTry: number, random: () => number): number {
  const base = Math.min(options.initialMs * options.multiplier ** (Math.max(1, failedTry) - 1), options.maxMs);
  return Math.round(base * (1 + options.jitterRatio * (2 * random() - 1)));
}
