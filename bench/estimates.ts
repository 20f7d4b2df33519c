/**
 * Estimate quality and scheduling on the shipped traces (examples/traces/), each replayed by the real engine on a
 * virtual clock under our scheduler, plain FIFO and FIFO with model affinity: MAPE of the first promise and of the
 * last estimate before start against the real result time, beside the reference's fixed method (300 s per position,
 * 50 MiB/s, catalog seconds) on the same jobs; the share finishing more than 50 % later than first promised; jobs
 * per hour against FIFO and the zero-swap bounds (with and without arrivals), the GPU time FIFO loses to loads; p95 waits; and the estimator's own speed at 1,000 queued jobs.
 * Run: npx tsx bench/estimates.ts
 */
import { formatMetricsTable, measureRun, type RunMetrics } from '../src/simulation/metrics.js';
import { POLICIES, runTrace } from '../src/simulation/run-trace.js';
import { loadTrace } from '../src/simulation/trace.js';
import { formatEstimatorSpeed, measureEstimatorSpeed } from './estimator-speed.js';

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const TRACES = ['evening-burst', 'mixed-day', 'fault-storm'];
const all = new Map<string, RunMetrics[]>();
for (const name of TRACES) {
  const trace = await loadTrace(new URL(`../examples/traces/${name}.yaml`, import.meta.url).pathname);
  const rows: RunMetrics[] = [];
  for (const policy of POLICIES) rows.push(measureRun(await runTrace(trace, policy)));
  all.set(name, rows);
  console.log(`\n${name}\n${formatMetricsTable(rows)}`);
}

// Sensitivity, not defaults: the previous dispatch (bounded affinity alone, model spread off), and our scheduler run
// twice more: the simulator is not fully deterministic (see the README), so one run's MAPE is not the whole story.
{
  const trace = await loadTrace(new URL('../examples/traces/mixed-day.yaml', import.meta.url).pathname);
  const bounded = measureRun(await runTrace({ ...trace, engine: { ...trace.engine, scheduling: { modelSpread: false } } }, 'understudy'));
  const again = [measureRun(await runTrace(trace, 'understudy')), measureRun(await runTrace(trace, 'understudy'))];
  const rows = [{ ...bounded, policy: 'understudy, modelSpread off' }, ...again.map((r, i) => ({ ...r, policy: `understudy, run ${i + 2}` })), all.get('mixed-day')!.find((r) => r.policy === 'fifo')!];
  console.log(`\nmixed-day sensitivity (not the default config)\n${formatMetricsTable(rows)}`);
}

// Where plain FIFO's time goes on the mixed day, and what 1.3× FIFO would need.
{
  const f = all.get('mixed-day')!.find((r) => r.policy === 'fifo')!;
  const o = all.get('mixed-day')!.find((r) => r.policy === 'understudy')!;
  const fifoHours = f.accepted / f.jobsPerHour;
  const zeroSwapHours = f.accepted / f.zeroSwapJobsPerHour;
  const arrivalHours = f.accepted / f.arrivalBoundJobsPerHour;
  const lines = [
    `plain FIFO: ${f.modelLoads} loads, ${(f.loadSeconds / 3600).toFixed(2)} GPU-hours of loading = ${(f.loadSeconds / 3600 / 4).toFixed(2)} h of the day over 4 GPUs; the day lasts ${fifoHours.toFixed(2)} h (${f.jobsPerHour.toFixed(1)} jobs/h)`,
    `zero-swap bound (work / 4 GPUs, or the last arrival): ${zeroSwapHours.toFixed(2)} h = ${f.zeroSwapJobsPerHour.toFixed(1)} jobs/h; 1.3× FIFO = ${(1.3 * f.jobsPerHour).toFixed(1)} jobs/h = ${pct((1.3 * f.jobsPerHour) / f.zeroSwapJobsPerHour)} of it`,
    `zero-swap bound respecting arrivals (no job starts before it arrives): ${arrivalHours.toFixed(2)} h = ${f.arrivalBoundJobsPerHour.toFixed(1)} jobs/h; 1.3× FIFO = ${pct((1.3 * f.jobsPerHour) / f.arrivalBoundJobsPerHour)} of it`,
    `ours: ${o.modelLoads} loads, ${(o.loadSeconds / 3600).toFixed(2)} GPU-hours of loading, ${o.jobsPerHour.toFixed(1)} jobs/h = ${pct(o.jobsPerHour / o.arrivalBoundJobsPerHour)} of the arrival-respecting bound`,
  ];
  console.log(`\nmixed-day arithmetic\n${lines.join('\n')}`);
}

const ours = (name: string): RunMetrics => all.get(name)!.find((r) => r.policy === 'understudy')!;
const of = (name: string, policy: string): RunMetrics => all.get(name)!.find((r) => r.policy === policy)!;
const check = (ok: boolean): string => (ok ? 'met' : 'NOT MET');
const targets: Array<[string, string, string]> = [];
for (const [name, limit] of [['mixed-day', 0.15], ['evening-burst', 0.25]] as const) {
  const m = ours(name);
  targets.push([`${name}: MAPE of the first promise ≤ ${pct(limit)}`, pct(m.mapeFirst), check(m.mapeFirst <= limit)]);
}
for (const name of TRACES) {
  const m = ours(name);
  const ratio = m.mapeReference / Math.max(1e-9, m.mapeFirst);
  targets.push([`${name}: ≥ 3× better than the reference's method`, `${pct(m.mapeReference)} / ${pct(m.mapeFirst)} = ${ratio.toFixed(1)}×`, check(ratio >= 3)]);
  targets.push([`${name}: last estimate before start within 10 %`, pct(m.mapeLastBeforeStart), check(m.mapeLastBeforeStart <= 0.1)]);
  targets.push([`${name}: finished > 50 % later than first promised (reference)`, `${pct(m.lateShare)} (${pct(m.lateShareReference)})`, '-']);
}
const storm = ours('fault-storm');
targets.push(['fault-storm: ≥ 99 % completed (real or labelled preview)', `${pct(storm.completedShare)} (${storm.previews} previews, ${storm.failed} failed)`, check(storm.completedShare >= 0.99)]);
targets.push(['fault-storm: 0 lost', String(storm.lost), check(storm.lost === 0)]);
const day = ours('mixed-day');
const fifo = of('mixed-day', 'fifo');
targets.push(['mixed-day: jobs/hour ≥ 1.3× plain FIFO', `${day.jobsPerHour.toFixed(1)} / ${fifo.jobsPerHour.toFixed(1)} = ${(day.jobsPerHour / fifo.jobsPerHour).toFixed(2)}×`, check(day.jobsPerHour >= 1.3 * fifo.jobsPerHour)]);
targets.push(['mixed-day: jobs/hour ≥ 90 % of the zero-swap bound respecting arrivals (not a target of the issue)', `${day.jobsPerHour.toFixed(1)} / ${day.arrivalBoundJobsPerHour.toFixed(1)} = ${pct(day.jobsPerHour / day.arrivalBoundJobsPerHour)}`, '-']);
targets.push(['mixed-day: jobs/hour ≥ 90 % of the zero-swap bound', `${day.jobsPerHour.toFixed(1)} / ${day.zeroSwapJobsPerHour.toFixed(1)} = ${pct(day.jobsPerHour / day.zeroSwapJobsPerHour)}`, check(day.jobsPerHour >= 0.9 * day.zeroSwapJobsPerHour)]);
targets.push(['mixed-day: p95 wait high/critical ≤ FIFO', `${day.p95UrgentWaitSeconds.toFixed(0)} s vs ${fifo.p95UrgentWaitSeconds.toFixed(0)} s`, check(day.p95UrgentWaitSeconds <= fifo.p95UrgentWaitSeconds)]);
const speed = measureEstimatorSpeed();
targets.push(['estimator p99 ≤ 1 ms at 1,000 queued jobs, 4 backends', `${speed.ours.p99.toFixed(3)} ms (p50 ${speed.ours.p50.toFixed(3)} ms)`, check(speed.ours.p99 <= 1)]);

const w0 = Math.max(...targets.map((t) => t[0].length));
const w1 = Math.max(...targets.map((t) => t[1].length));
console.log(`\ntargets (issue 14)\n${'target'.padEnd(w0)}  ${'measured'.padEnd(w1)}  result\n${'-'.repeat(w0)}  ${'-'.repeat(w1)}  ------`);
for (const [a, b, c] of targets) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
console.log(`\n${formatEstimatorSpeed(speed)}`);
