import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isValidationError } from '../../src/core/validation.js';
import { measureRun } from '../../src/simulation/metrics.js';
import { runTrace } from '../../src/simulation/run-trace.js';
import { simulate } from '../../src/simulation/simulate.js';
import { expandArrivals, parseTrace, type TraceInput } from '../../src/simulation/trace.js';
import { VirtualClock } from '../../src/simulation/virtual-clock.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Two GPUs that hold one model at a time (30 s swaps), two models, a download, a short saturating stream. */
const small: TraceInput = {
  name: 'small',
  seed: 5,
  backends: [{ id: 'gpu', count: 2, vramGb: 13, residentShare: 0.9, loadGbPerSecond: 0.4 }],
  installed: ['ti2v-5B'],
  arrivals: [
    { at: 0, model: 't2v-A14B', priority: 'high' },
    { stream: { from: 0, to: 900, perHour: 240, models: { 'ti2v-5B': 2, 't2v-A14B': 1 }, priorities: { normal: 3, low: 1 }, sameModelRun: 2 } },
  ],
};

test('a trace names its bad field', () => {
  const bad = (raw: unknown, field: RegExp): void => {
    try {
      parseTrace(raw);
      assert.fail('accepted');
    } catch (error) {
      assert.ok(isValidationError(error));
      assert.match(error.issues.map((i) => i.field).join(' '), field);
    }
  };
  bad({ ...small, backends: [] }, /backends/);
  bad({ ...small, arrivals: [{ at: -1, model: 'x' }] }, /arrivals/);
  bad({ ...small, arrivals: [{ stream: { from: 10, to: 5, perHour: 1, models: { a: 1 } } }] }, /arrivals\.0\.stream\.to/);
  bad({ ...small, faults: { probabilities: { oom: 2 } } }, /faults\.probabilities\.oom/);
});

test('streams are seeded: the same trace gives the same arrivals, in order', () => {
  const a = expandArrivals(parseTrace(small));
  const b = expandArrivals(parseTrace(small));
  assert.deepEqual(a, b);
  assert.ok(a.length > 30, `${a.length} arrivals`);
  assert.ok(a.every((x, i) => i === 0 || a[i - 1]!.at <= x.at));
  assert.notDeepEqual(expandArrivals(parseTrace({ ...small, seed: 6 })), a);
});

test('the virtual clock fires timers in order and jumps straight to them', async () => {
  const clock = new VirtualClock(0);
  const fired: number[] = [];
  clock.setTimeout(() => fired.push(clock.now()), 3000);
  const cancelled = clock.setTimeout(() => fired.push(-1), 2000);
  clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 500), 1000);
  clock.clearTimeout(cancelled);
  await clock.runUntil(10_000);
  assert.deepEqual(fired, [1500, 3000]);
  assert.equal(clock.now(), 10_000);
  assert.equal(clock.nextDue, undefined);
});

test('the real engine replays a trace on the virtual clock: every job ends, promises and the reference are recorded, our scheduler swaps less than FIFO', async () => {
  const trace = parseTrace(small);
  const ours = await runTrace(trace, 'understudy');
  const fifo = await runTrace(trace, 'fifo');
  const m = measureRun(ours);
  assert.equal(m.lost, 0);
  assert.equal(m.completedShare, 1);
  assert.ok(ours.endedAt - ours.startedAt > 900_000, 'virtual time passed');
  assert.ok(ours.jobs.every((j) => j.promisedAt !== undefined && j.referenceAt !== undefined && j.startedAt !== undefined));
  assert.ok(m.mapeFirst < m.mapeReference, `ours ${m.mapeFirst} vs reference ${m.mapeReference}`);
  assert.ok(ours.loads.length < fifo.loads.length, `${ours.loads.length} loads vs FIFO's ${fifo.loads.length}`);
  assert.ok(ours.samples.some((s) => s.waiting > 0) && ours.samples.some((s) => s.busySlots === 2));
});

test('understudy simulate writes the table, a self-contained HTML page with charts, and the data', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-simulate-'));
  try {
    const file = join(dir, 'small.json');
    await writeFile(file, JSON.stringify(small));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/interfaces/cli/main.ts', 'simulate', file, '--out', join(dir, 'out'), '--policy', 'understudy', 'fifo'], { cwd: ROOT });
    assert.match(stdout, /trace small: \d+ requests, 2 GPU slot\(s\)/);
    assert.match(stdout, /understudy .*\n.*fifo/);
    const html = await readFile(join(dir, 'out', 'report.html'), 'utf8');
    assert.equal((html.match(/<svg /g) ?? []).length, 6, 'wait, queue depth, utilisation, loads, our estimate error, the reference’s');
    assert.doesNotMatch(html, /<script|<link |src="http/i, 'no scripts or external files');
    assert.match(await readFile(join(dir, 'out', 'report.txt'), 'utf8'), /MAPE first/);
    const data = JSON.parse(await readFile(join(dir, 'out', 'results.json'), 'utf8')) as { metrics: Array<{ policy: string }> };
    assert.deepEqual(data.metrics.map((x) => x.policy), ['understudy', 'fifo']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('simulate() rejects a trace it cannot run with a clear error', async () => {
  const trace = parseTrace({ ...small, backends: [{ id: 'gpu', vramGb: 1 }], arrivals: [{ at: 0, model: 'no-such-model' }] });
  const report = await simulate(trace, join(tmpdir(), `understudy-simulate-bad-${process.pid}`), ['understudy']);
  assert.equal(report.metrics[0]!.accepted, 0);
  assert.match(report.runs[0]!.jobs[0]!.rejected ?? '', /no-such-model/);
  await rm(join(tmpdir(), `understudy-simulate-bad-${process.pid}`), { recursive: true, force: true });
});
