/** The figures a simulation run is judged by: throughput, waits, completion, and the quality of its estimates. */
import type { SimJob, SimResult } from './run-trace.js';

export interface RunMetrics {
  trace: string;
  policy: string;
  accepted: number;
  rejected: number;
  /** Succeeded with a real video. */
  succeeded: number;
  /** Succeeded with a labelled preview. */
  previews: number;
  failed: number;
  /** Accepted but neither finished nor still known to the store at the end: must be 0. */
  lost: number;
  /** Share of accepted jobs that ended with a result (real or labelled preview). */
  completedShare: number;
  jobsPerHour: number;
  /** Jobs per hour if no model load took any time: the work alone over the GPU slots (or the arrivals, if longer). */
  zeroSwapJobsPerHour: number;
  /**
   * The same bound respecting arrivals: no job starts before it arrives, so the day lasts at least as long as, for
   * every arrival, its time plus the work arriving from then on over the GPU slots.
   */
  arrivalBoundJobsPerHour: number;
  /** GPU seconds spent loading models (model size over the GPU's load speed, summed over every load). */
  loadSeconds: number;
  p95WaitSeconds: number;
  p95UrgentWaitSeconds: number;
  modelLoads: number;
  /** Mean absolute error of the first promise of the result time, as a share of the time to the result. */
  mapeFirst: number;
  /** The same for the reference's fixed method (300 s per position, 50 MiB/s, catalog seconds). */
  mapeReference: number;
  /** The same for our last estimate before the job started. */
  mapeLastBeforeStart: number;
  /** Share of jobs whose result came more than 50 % later than first promised. */
  lateShare: number;
  lateShareReference: number;
  estimateEvents: number;
  wallSeconds: number;
}

/** The metrics of one run. */
export function measureRun(r: SimResult): RunMetrics {
  const accepted = r.jobs.filter((j) => j.id !== null);
  const ended = accepted.filter((j) => j.status === 'succeeded');
  const waits = accepted.filter((j) => j.startedAt !== undefined).map((j) => (j.startedAt! - j.submittedAt) / 1000);
  const urgent = accepted.filter((j) => j.startedAt !== undefined && (j.arrival.priority === 'high' || j.arrival.priority === 'critical')).map((j) => (j.startedAt! - j.submittedAt) / 1000);
  const spanHours = Math.max(1e-9, (r.endedAt - r.startedAt) / 3_600_000);
  const work = accepted.reduce((n, j) => n + (j.generationSeconds ?? 0), 0);
  const lastArrival = Math.max(0, ...r.jobs.map((j) => j.arrival.at));
  const boundHours = Math.max(work / r.gpuSlots, lastArrival) / 3600;
  const scored = ended.filter((j) => j.promisedAt !== undefined && j.endedAt! > j.submittedAt);
  return {
    trace: r.trace,
    policy: r.policy,
    accepted: accepted.length,
    rejected: r.jobs.length - accepted.length,
    succeeded: ended.filter((j) => !j.isPreview).length,
    previews: ended.filter((j) => j.isPreview).length,
    failed: accepted.filter((j) => j.status === 'failed').length,
    lost: accepted.filter((j) => j.status === undefined || !['succeeded', 'failed', 'cancelled', 'expired'].includes(j.status)).length,
    completedShare: accepted.length ? ended.length / accepted.length : 0,
    jobsPerHour: accepted.length / spanHours,
    zeroSwapJobsPerHour: boundHours > 0 ? accepted.length / boundHours : 0,
    arrivalBoundJobsPerHour: accepted.length / Math.max(1e-9, arrivalBoundHours(accepted, r.gpuSlots)),
    loadSeconds: r.loads.reduce((n, l) => n + l.seconds, 0),
    p95WaitSeconds: percentile(waits, 0.95),
    p95UrgentWaitSeconds: percentile(urgent, 0.95),
    modelLoads: r.loads.length,
    mapeFirst: mape(scored, (j) => j.promisedAt!),
    mapeReference: mape(scored.filter((j) => j.referenceAt !== undefined), (j) => j.referenceAt!),
    mapeLastBeforeStart: mape(scored, (j) => j.lastBeforeStartAt ?? j.promisedAt!),
    lateShare: late(scored, (j) => j.promisedAt!),
    lateShareReference: late(scored.filter((j) => j.referenceAt !== undefined), (j) => j.referenceAt!),
    estimateEvents: r.estimateEvents,
    wallSeconds: r.wallMs / 1000,
  };
}

/** Hours from the first arrival to the earliest end any zero-swap schedule can reach (see arrivalBoundJobsPerHour). */
export function arrivalBoundHours(jobs: readonly SimJob[], slots: number): number {
  const byArrival = [...jobs].sort((a, b) => a.arrival.at - b.arrival.at);
  let workFrom = 0;
  let hours = 0;
  for (let i = byArrival.length - 1; i >= 0; i--) {
    workFrom += byArrival[i]!.generationSeconds ?? 0;
    hours = Math.max(hours, (byArrival[i]!.arrival.at + workFrom / slots) / 3600);
  }
  return hours;
}

/** Absolute error of `promise` against the real result time, as a share of the real time from submit to result. */
export function promiseError(j: SimJob, promise: number): number {
  return Math.abs(promise - j.endedAt!) / (j.endedAt! - j.submittedAt);
}

function mape(jobs: SimJob[], promise: (j: SimJob) => number): number {
  if (jobs.length === 0) return 0;
  return jobs.reduce((n, j) => n + promiseError(j, promise(j)), 0) / jobs.length;
}

function late(jobs: SimJob[], promise: (j: SimJob) => number): number {
  if (jobs.length === 0) return 0;
  return jobs.filter((j) => j.endedAt! - j.submittedAt > 1.5 * (promise(j) - j.submittedAt)).length / jobs.length;
}

/** The `q` quantile (0 to 1) of `values`, nearest rank; 0 for none. */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/** The comparison table of a trace's runs, as text. */
export function formatMetricsTable(rows: readonly RunMetrics[]): string {
  const header = ['policy', 'jobs', 'done', 'previews', 'failed', 'lost', 'jobs/h', 'vs FIFO', 'of 0-swap', 'of arr. bound', 'load GPU-h', 'p95 wait s', 'p95 hi/crit s', 'loads', 'MAPE first', 'MAPE ref', 'MAPE last', '>50% late', 'ref >50% late'];
  const fifo = rows.find((r) => r.policy === 'fifo');
  const body = rows.map((r) => [
    r.policy,
    String(r.accepted),
    pct(r.completedShare),
    String(r.previews),
    String(r.failed),
    String(r.lost),
    r.jobsPerHour.toFixed(1),
    fifo ? `${(r.jobsPerHour / fifo.jobsPerHour).toFixed(2)}×` : '-',
    pct(r.jobsPerHour / r.zeroSwapJobsPerHour),
    pct(r.jobsPerHour / r.arrivalBoundJobsPerHour),
    (r.loadSeconds / 3600).toFixed(1),
    r.p95WaitSeconds.toFixed(0),
    r.p95UrgentWaitSeconds.toFixed(0),
    String(r.modelLoads),
    pct(r.mapeFirst),
    pct(r.mapeReference),
    pct(r.mapeLastBeforeStart),
    pct(r.lateShare),
    pct(r.lateShareReference),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
