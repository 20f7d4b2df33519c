/**
 * The simulation report as one self-contained HTML page: the table, and line charts drawn as inline SVG (no
 * scripts, no external files): wait over time, queue depth, GPU utilisation, model loads and estimate error (ours,
 * and the reference's fixed method's), for each policy on the same trace.
 */
import type { RunMetrics } from './metrics.js';
import { promiseError } from './metrics.js';
import type { SimResult } from './run-trace.js';

interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

const COLORS: Record<string, string> = { understudy: '#1f77b4', fifo: '#d62728', 'fifo-affinity': '#ff7f0e', reference: '#7f7f7f' };

const W = 700;
const H = 260;
const PAD = { left: 60, right: 16, top: 28, bottom: 36 };

/** One line chart. */
function chart(title: string, yLabel: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1e-9, ...all.map((p) => p[0]));
  const yMax = Math.max(1e-9, ...all.map((p) => p[1]));
  const x = (v: number): number => PAD.left + (v / xMax) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(t * yMax)}" y2="${y(t * yMax)}" stroke="#eee"/>` +
        `<text x="${PAD.left - 6}" y="${y(t * yMax) + 4}" text-anchor="end">${round(t * yMax)}</text>` +
        `<text x="${x(t * xMax)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${(t * xMax).toFixed(1)}</text>`,
    )
    .join('');
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="1.6" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const legend = series.map((s, i) => `<g transform="translate(${PAD.left + 10 + i * 170},${PAD.top - 12})"><rect width="12" height="4" y="-4" fill="${s.color}"/><text x="16">${escape(s.name)}</text></g>`).join('');
  return (
    `<figure><figcaption>${escape(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-size="11" font-family="sans-serif">` +
    `${grid}<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#999"/>` +
    `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${H - PAD.bottom}" y2="${H - PAD.bottom}" stroke="#999"/>` +
    `${lines}${legend}<text x="${(W + PAD.left) / 2}" y="${H - 4}" text-anchor="middle">hours</text>` +
    `<text transform="translate(14,${H / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text></svg></figure>`
  );
}

const hours = (r: SimResult, at: number): number => (at - r.startedAt) / 3_600_000;

/** Mean of each run of `size` points, so a chart of hundreds of jobs stays readable. */
function smooth(points: Array<[number, number]>, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < points.length; i += size) {
    const chunk = points.slice(i, i + size);
    out.push([chunk.reduce((n, p) => n + p[0], 0) / chunk.length, chunk.reduce((n, p) => n + p[1], 0) / chunk.length]);
  }
  return out;
}

/** The page for one trace's runs. */
export function renderReportHtml(traceName: string, description: string, table: string, metrics: readonly RunMetrics[], runs: readonly SimResult[]): string {
  const color = (name: string): string => COLORS[name] ?? '#2ca02c';
  const per = <T,>(f: (r: SimResult) => T): Array<{ r: SimResult; v: T }> => runs.map((r) => ({ r, v: f(r) }));
  const window = (n: number): number => Math.max(1, Math.round(n / 120));
  const waits = per((r) => {
    const pts = r.jobs.filter((j) => j.startedAt !== undefined).map((j): [number, number] => [hours(r, j.submittedAt), (j.startedAt! - j.submittedAt) / 60_000]);
    return smooth(pts, window(pts.length));
  });
  const depth = per((r) => r.samples.map((s): [number, number] => [hours(r, s.at), s.waiting]));
  const util = per((r) => smooth(r.samples.map((s): [number, number] => [hours(r, s.at), (100 * s.busySlots) / r.gpuSlots]), 5));
  const loads = per((r) => r.loads.map((l, i): [number, number] => [hours(r, l.at), i + 1]));
  const scored = (r: SimResult) => r.jobs.filter((j) => j.status === 'succeeded' && j.promisedAt !== undefined && j.endedAt! > j.submittedAt);
  const errors = per((r) => {
    const pts = scored(r).map((j): [number, number] => [hours(r, j.submittedAt), 100 * promiseError(j, j.promisedAt!)]);
    return smooth(pts, window(pts.length));
  });
  const ours = runs.find((r) => r.policy === 'understudy') ?? runs[0]!;
  const refPts = scored(ours)
    .filter((j) => j.referenceAt !== undefined)
    .map((j): [number, number] => [hours(ours, j.submittedAt), 100 * promiseError(j, j.referenceAt!)]);
  const series = (list: Array<{ r: SimResult; v: Array<[number, number]> }>): Series[] => list.map(({ r, v }) => ({ name: r.policy, color: color(r.policy), points: v }));
  const charts = [
    chart('Wait before starting, by time of arrival (mean of neighbouring jobs)', 'minutes', series(waits)),
    chart('Queue depth (queued + waiting for a model)', 'jobs', series(depth)),
    chart('GPU utilisation (slots busy loading or generating)', '%', series(util)),
    chart('Model loads (cumulative)', 'loads', series(loads)),
    chart('Our estimator: error of the first promise of the result, by time of arrival', '% of time to result', series(errors)),
    chart("The reference's fixed method on the same jobs (our scheduler's run)", '% of time to result', [
      { name: 'reference fixed method', color: COLORS.reference!, points: smooth(refPts, window(refPts.length)) },
    ]),
  ].join('\n');
  const m = metrics.map((x) => `${x.policy}: ${x.accepted} jobs in ${x.wallSeconds.toFixed(1)} s of real time`).join('; ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>understudy simulate: ${escape(traceName)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1480px;color:#222}pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}
figure{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}figcaption{font-weight:600;font-size:13px;margin-bottom:2px}</style></head>
<body><h1>understudy simulate: ${escape(traceName)}</h1><p>${escape(description)}</p>
<p>The real engine (planner, SQLite job store, scheduler, recovery, estimates) on a virtual clock with simulated GPUs; the same trace under each policy. ${escape(m)}.</p>
<pre>${escape(table)}</pre>
${charts}
</body></html>
`;
}

function round(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
