/**
 * Scheduling on a generated mixed-model trace: the engine with the simulated GPU on a virtual (manual) clock, plain
 * FIFO (no priorities, no model affinity, no aging) beside Understudy's scheduler (priorities, aging, bounded
 * affinity), on the same trace in the same run. A 16 GiB GPU holds one 14B model's weights at a time, so model
 * swaps cost real (simulated) time. Run: npm run bench:scheduling.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedBackend } from '../src/adapters/simulated-backend.js';
import { ManualClock } from '../src/runtime/clocks.js';
import { createUnderstudy } from '../src/composition/index.js';
import type { Priority } from '../src/core/vocabulary.js';

interface TraceJob {
  atMs: number;
  model: string;
  priority: Priority;
}

/** A seeded trace: bursts of same-model requests interleaved, as users iterating on one prompt do. */
function trace(count: number, seed = 7): TraceJob[] {
  let s = seed;
  const random = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const models = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
  const priorities: Priority[] = ['low', 'normal', 'normal', 'normal', 'high', 'critical'];
  const jobs: TraceJob[] = [];
  let at = 0;
  let model = models[0]!;
  for (let i = 0; i < count; i++) {
    if (random() < 0.35) model = models[Math.floor(random() * models.length)]!;
    at += Math.floor(random() * 240_000);
    jobs.push({ atMs: at, model, priority: priorities[Math.floor(random() * priorities.length)]! });
  }
  return jobs;
}

const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

async function run(policy: 'fifo' | 'affinity' | 'understudy', jobs: TraceJob[]) {
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-sched-'));
  const clock = new ManualClock(0);
  const backend = new SimulatedBackend({ vramGb: 16, loadGbPerSecond: 0.5 }, { clock });
  const fifo = policy !== 'understudy';
  const affinity = policy !== 'fifo';
  const engine = await createUnderstudy(
    {
      dataDir,
      maxQueueSize: 100_000,
      healthIntervalSeconds: 0,
      jobs: { agingSeconds: fifo ? 0 : 600, leaseMs: 600_000 },
      scheduling: { affinity, affinityMaxSkip: 3, tickMs: 5000 },
      planner: { policies: { available: [{ option: 'as_requested' }] } },
    },
    { clock, backends: [backend], probe: { read: async () => ({ cpuPercent: 1, memoryPercent: 1, diskFreeBytes: 1e12, gpus: null }) } },
  );
  let swaps = 0;
  engine.onEvent((e) => {
    if (e.type === 'model.loaded') swaps++;
  });
  await engine.start();
  const ids: Array<{ id: string; priority: Priority }> = [];
  for (const job of jobs) {
    await advance(clock, Math.max(0, job.atMs - clock.now()));
    const priority = fifo ? 'normal' : job.priority;
    const { job: accepted } = await engine.submit({
      model: job.model,
      prompt: 'bench',
      priority,
      allowAlternatives: false,
      ...(job.model === 'i2v-A14B' ? { image: PNG } : {}),
    });
    ids.push({ id: accepted.id, priority: job.priority });
  }
  for (let guard = 0; (await engine.queueStatus()).totalQueuedRequests > 0 || (await engine.list({ status: 'running' })).jobs.length > 0; guard++) {
    if (guard > 100_000) throw new Error('the trace did not drain');
    await advance(clock, 10_000);
  }
  const waits: number[] = [];
  const urgentWaits: number[] = [];
  let end = 0;
  for (const { id, priority } of ids) {
    const job = (await engine.get(id))!;
    const started = job.timeline.find((e) => e.kind === 'started')!.at;
    const wait = (started - job.createdAt) / 1000;
    waits.push(wait);
    if (priority === 'critical' || priority === 'high') urgentWaits.push(wait);
    end = Math.max(end, job.timeline.at(-1)!.at);
  }
  await engine.close(0);
  await rm(dataDir, { recursive: true, force: true });
  return { jobsPerHour: ids.length / (end / 3_600_000), p95Wait: p95(waits), p95Urgent: p95(urgentWaits), swaps };
}

/**
 * Moves virtual time in small steps, letting real I/O (output files) finish between them, so a job's recorded end
 * is not pushed later by how long the disk took.
 */
async function advance(clock: ManualClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= STEP_MS) {
    await clock.advance(Math.min(STEP_MS, left));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const STEP_MS = 1000;

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? 0;
}

const jobs = trace(150);
const fifo = await run('fifo', jobs);
const fifoAffinity = await run('affinity', jobs);
const ours = await run('understudy', jobs);
const rows = [
  ['plain FIFO', fifo],
  ['FIFO + model affinity', fifoAffinity],
  ['understudy (priorities, aging, affinity)', ours],
] as const;
console.log(`trace: ${jobs.length} jobs over ${(jobs.at(-1)!.atMs / 3_600_000).toFixed(1)} h, 16 GiB simulated GPU, virtual clock`);
console.log(`${'scheduler'.padEnd(40)}  jobs/hour  p95 wait s  p95 wait (high+critical) s  model loads`);
console.log(`${'-'.repeat(40)}  ---------  ----------  --------------------------  -----------`);
for (const [name, r] of rows) {
  console.log(
    `${name.padEnd(40)}  ${r.jobsPerHour.toFixed(1).padStart(9)}  ${r.p95Wait.toFixed(0).padStart(10)}  ${r.p95Urgent.toFixed(0).padStart(26)}  ${String(r.swaps).padStart(11)}`,
  );
}
