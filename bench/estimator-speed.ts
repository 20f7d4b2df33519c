/**
 * Speed of the queue forecast that every submit and every change runs: 1,000 queued jobs of three models and four
 * priorities (aging on), 4 backends, one download under way, model-aware dispatch on; beside the reference's fixed method
 * (position × 300 s) on the same queue. Run alone with `npx tsx bench/estimator-speed.ts`; bench/estimates.ts
 * prints it too.
 */
import { pathToFileURL } from 'node:url';
import { forecastDownloads } from '../src/core/download-forecast.js';
import { forecastQueue, type ForecastJob, type QueueForecastInput } from '../src/core/queue-forecast.js';
import type { Priority } from '../src/core/vocabulary.js';

/** p50 and p99 of one forecast, milliseconds, for ours and the reference's method. */
export interface EstimatorSpeed {
  jobs: number;
  backends: number;
  ours: { p50: number; p99: number };
  /** The same queue handed over in random order (each lane sorted first), for comparison. */
  oursUnsorted: { p50: number; p99: number };
  reference: { p50: number; p99: number };
}

/** Times `runs` forecasts of a `jobs`-long queue on `backends` backends. */
export function measureEstimatorSpeed(jobs = 1000, backends = 4, runs = 2000): EstimatorSpeed {
  const now = Date.UTC(2026, 0, 1);
  let seed = 42;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const models = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
  const priorities: Priority[] = ['critical', 'high', 'normal', 'normal', 'low'];
  const waiting: ForecastJob[] = Array.from({ length: jobs }, (_, i) => ({
    id: `j${i}`,
    modelId: models[Math.floor(random() * 3)]!,
    generationSeconds: 60 + random() * 200,
    learned: random() < 0.8,
    priority: priorities[Math.floor(random() * priorities.length)]!,
    queuedAt: now - Math.floor(random() * 3_600_000),
    sequence: i,
  }));
  // The engine feeds the forecast the store's listing, in claim order: each (model, priority) lane oldest first.
  const shuffled = [...waiting];
  waiting.sort((a, b) => a.queuedAt - b.queuedAt || a.sequence - b.sequence);
  const ready = new Set(['t2v-A14B', 'ti2v-5B']);
  const input = (jobsGiven = waiting): QueueForecastInput => ({
    now,
    agingSeconds: 600,
    affinity: { enabled: true, maxSkip: 3, spread: true },
    waiting: jobsGiven,
    running: [],
    backends: Array.from({ length: backends }, (_, i) => ({
      id: `gpu-${i}`,
      slots: 1,
      loadedModels: [models[i % 2]!],
      readyModels: ready,
      loadTime: () => ({ seconds: 60, learned: true }),
    })),
    readyAt: forecastDownloads([{ modelId: 'i2v-A14B', bytesRemaining: 10 * 1024 ** 3 }], 50 * 1024 ** 2, now),
  });
  const ours = time(runs, () => forecastQueue(input()).jobs.size);
  const oursUnsorted = time(runs, () => forecastQueue(input(shuffled)).jobs.size);
  // The reference: each job is promised its position × 300 s plus the download alone.
  const reference = time(runs, () => {
    const ahead = new Map<string, number>();
    let sum = 0;
    for (const job of waiting) {
      const n = ahead.get(job.modelId) ?? 0;
      ahead.set(job.modelId, n + 1);
      sum += n * 300 + (job.modelId === 'i2v-A14B' ? (10 * 1024 ** 3) / (50 * 1024 ** 2) : 0);
    }
    return sum;
  });
  return { jobs, backends, ours, oursUnsorted, reference };
}

function time(runs: number, fn: () => number): { p50: number; p99: number } {
  let sink = 0;
  for (let i = 0; i < 200; i++) sink += fn(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    sink += fn();
    samples.push(performance.now() - t0);
  }
  if (sink === -1) console.log(sink);
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(runs * 0.5)]!, p99: samples[Math.floor(runs * 0.99)]! };
}

/** The table, as printed. */
export function formatEstimatorSpeed(s: EstimatorSpeed): string {
  const row = (name: string, r: { p50: number; p99: number }, ratio: string): string =>
    `${name.padEnd(44)}  ${r.p50.toFixed(3).padStart(8)}  ${r.p99.toFixed(3).padStart(8)}  ${ratio.padStart(10)}`;
  return [
    `estimator speed: ${s.jobs} queued jobs, ${s.backends} backends (target p99 ≤ 1 ms)`,
    `${'method'.padEnd(44)}  ${'p50 ms'.padStart(8)}  ${'p99 ms'.padStart(8)}  ${'p99 ratio'.padStart(10)}`,
    row('queue forecast (every job, one pass)', s.ours, `${(s.ours.p99 / s.reference.p99).toFixed(0)}×`),
    row('  the same, jobs handed over unsorted', s.oursUnsorted, `${(s.oursUnsorted.p99 / s.reference.p99).toFixed(0)}×`),
    row('reference fixed method (position × 300 s)', s.reference, '1×'),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(formatEstimatorSpeed(measureEstimatorSpeed()));
