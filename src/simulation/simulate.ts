/**
 * `understudy simulate`: runs a trace under each policy and writes the report directory: `report.txt` (the table),
 * `report.html` (the table and the charts, self-contained) and `results.json` (every job's figures).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatMetricsTable, measureRun, type RunMetrics } from './metrics.js';
import { renderReportHtml } from './report-html.js';
import { POLICIES, runTrace, type Policy, type SimResult } from './run-trace.js';
import type { Trace } from './trace.js';

/** What a simulation produced. */
export interface SimulationReport {
  table: string;
  metrics: RunMetrics[];
  runs: SimResult[];
  files: { table: string; html: string; json: string };
}

/** Runs `trace` under `policies` (default all three) and writes the report into `outDir`. */
export async function simulate(trace: Trace, outDir: string, policies: readonly Policy[] = POLICIES, onRun?: (m: RunMetrics) => void): Promise<SimulationReport> {
  const runs: SimResult[] = [];
  const metrics: RunMetrics[] = [];
  for (const policy of policies) {
    const run = await runTrace(trace, policy);
    runs.push(run);
    const m = measureRun(run);
    metrics.push(m);
    onRun?.(m);
  }
  const table = `trace ${trace.name}: ${runs[0]?.jobs.length ?? 0} requests, ${runs[0]?.gpuSlots ?? 0} GPU slot(s), virtual clock\n${formatMetricsTable(metrics)}`;
  await mkdir(outDir, { recursive: true });
  const files = { table: join(outDir, 'report.txt'), html: join(outDir, 'report.html'), json: join(outDir, 'results.json') };
  await writeFile(files.table, `${table}\n`);
  await writeFile(files.html, renderReportHtml(trace.name, trace.description, table, metrics, runs));
  await writeFile(files.json, JSON.stringify({ trace: trace.name, metrics, runs }, null, 1));
  return { table, metrics, runs, files };
}
