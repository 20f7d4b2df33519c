/** A download under way (or about to start), as the queue forecast sees it. */
export interface ForecastDownload {
  modelId: string;
  /** Bytes still to fetch. */
  bytesRemaining: number;
}

/**
 * When each download finishes if `bytesPerSecond` is the link's total throughput, shared equally by the downloads
 * running at once (water-filling: when one ends, the others speed up). Pure; epoch milliseconds from `now`.
 */
export function forecastDownloads(downloads: readonly ForecastDownload[], bytesPerSecond: number, now: number): Map<string, number> {
  const done = new Map<string, number>();
  if (!(bytesPerSecond > 0)) {
    for (const d of downloads) done.set(d.modelId, d.bytesRemaining > 0 ? Infinity : now);
    return done;
  }
  const left = [...downloads].sort((a, b) => a.bytesRemaining - b.bytesRemaining);
  let t = now;
  let fetched = 0; // bytes each remaining download has received since `now`
  for (let i = 0; i < left.length; i++) {
    const share = bytesPerSecond / (left.length - i);
    const need = Math.max(0, left[i]!.bytesRemaining - fetched);
    t += (need / share) * 1000;
    fetched += need;
    done.set(left[i]!.modelId, t);
  }
  return done;
}
