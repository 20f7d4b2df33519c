import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forecastDownloads } from '../../src/core/download-forecast.js';
import { forecastQueue, type ForecastBackend, type ForecastJob, type QueueForecastInput } from '../../src/core/queue-forecast.js';
import type { Priority } from '../../src/core/vocabulary.js';

const NOW = Date.UTC(2026, 0, 1);
const S = 1000;

function job(id: string, modelId: string, generationSeconds: number, at = 0, priority: Priority = 'normal', learned = true): ForecastJob {
  return { id, modelId, generationSeconds, learned, priority, queuedAt: NOW + at, sequence: at };
}

function gpu(id: string, loaded: string[], opts: Partial<ForecastBackend> = {}): ForecastBackend {
  return {
    id,
    slots: 1,
    loadedModels: loaded,
    readyModels: new Set(['a', 'b', 'c']),
    loadTime: () => ({ seconds: 60, learned: true }),
    ...opts,
  };
}

function input(over: Partial<QueueForecastInput>): QueueForecastInput {
  return { now: NOW, agingSeconds: 0, affinity: { enabled: false, maxSkip: 3 }, waiting: [], running: [], backends: [], readyAt: new Map(), ...over };
}

test('jobs ahead cost their own generation time, plus a load each time the GPU swaps models', () => {
  const f = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting: [job('1', 'a', 10, 1), job('2', 'a', 10, 2), job('3', 'b', 100, 3), job('4', 'a', 10, 4)] }));
  assert.deepEqual(
    ['1', '2', '3', '4'].map((id) => [(f.jobs.get(id)!.startAt - NOW) / S, (f.jobs.get(id)!.endAt - NOW) / S]),
    [
      [0, 10],
      [10, 20],
      [20, 180], // load b (60 s) + 100 s
      [180, 250], // load a again (60 s) + 10 s
    ],
  );
  assert.equal(f.jobs.get('4')!.jobsAhead, 3);
  assert.equal(f.jobs.get('4')!.loadsAhead, 1);
});

test('affinity takes the loaded model’s job within maxSkip, as the claim does, but never past a more urgent job', () => {
  const waiting = [job('b1', 'b', 10, 1), job('a1', 'a', 10, 2), job('b2', 'b', 10, 3)];
  const on = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting, affinity: { enabled: true, maxSkip: 3 } }));
  assert.equal(on.jobs.get('a1')!.startAt, NOW, 'a1 skips b1 because a is loaded');
  assert.equal(on.jobs.get('b1')!.startAt, NOW + 10 * S);
  const off = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting }));
  assert.equal(off.jobs.get('b1')!.startAt, NOW);
  const tooFar = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting: [...waiting.slice(0, 1), job('b0', 'b', 10, 1.5), job('a1', 'a', 10, 2)], affinity: { enabled: true, maxSkip: 1 } }));
  assert.equal(tooFar.jobs.get('b1')!.startAt, NOW, 'a1 is two jobs back, beyond maxSkip 1');
  const urgent = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting: [job('b1', 'b', 10, 1, 'high'), job('a1', 'a', 10, 2)], affinity: { enabled: true, maxSkip: 3 } }));
  assert.equal(urgent.jobs.get('b1')!.startAt, NOW, 'affinity never passes a more urgent job');
});

test('priority order, and aging during the forecast: an old low job overtakes newer high ones once it has aged', () => {
  const waiting = [job('low', 'a', 600, 0, 'low'), job('h1', 'a', 600, 1, 'high'), job('h2', 'a', 600, 2, 'high'), job('c', 'a', 600, 3, 'critical')];
  const noAging = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting }));
  assert.deepEqual(order(noAging), ['c', 'h1', 'h2', 'low']);
  // Aging 300 s: at 1200 s the low job has aged four levels (to critical) and is older than h2.
  const aging = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting, agingSeconds: 300 }));
  assert.deepEqual(order(aging), ['c', 'h1', 'low', 'h2']);
});

test('a job waiting for a download starts when it ends; the GPU runs other models’ jobs meanwhile', () => {
  const backends = [gpu('g', ['a'], { readyModels: new Set(['a']) })];
  const waiting = [job('wait-b', 'b', 10, 1), job('a1', 'a', 30, 2), job('a2', 'a', 30, 3)];
  const f = forecastQueue(input({ backends, waiting, readyAt: new Map([['b', NOW + 40 * S]]) }));
  assert.equal(f.jobs.get('a1')!.startAt, NOW);
  assert.equal(f.jobs.get('a2')!.startAt, NOW + 30 * S);
  assert.equal(f.jobs.get('wait-b')!.startAt, NOW + 60 * S, 'b is ready at 40 s but the GPU is busy until 60 s');
  assert.equal(f.jobs.get('wait-b')!.endAt, NOW + 130 * S, 'then loads b (60 s) and runs 10 s');
  assert.equal(f.jobs.get('wait-b')!.waitsForDownload, true);
  const idle = forecastQueue(input({ backends, waiting: [job('wait-b', 'b', 10, 1)], readyAt: new Map([['b', NOW + 40 * S]]) }));
  assert.equal(idle.jobs.get('wait-b')!.startAt, NOW + 40 * S, 'an idle GPU starts it as soon as the download ends');
});

test('running jobs hold their slots until they end; several backends share the queue', () => {
  const f = forecastQueue(
    input({
      backends: [gpu('g1', ['a']), gpu('g2', ['a'])],
      running: [{ id: 'r', backendId: 'g1', modelId: 'a', endsAt: NOW + 25 * S }],
      waiting: [job('1', 'a', 10, 1), job('2', 'a', 10, 2), job('3', 'a', 10, 3)],
    }),
  );
  assert.deepEqual(
    ['1', '2', '3'].map((id) => [f.jobs.get(id)!.backendId, (f.jobs.get(id)!.startAt - NOW) / S]),
    [
      ['g2', 0],
      ['g2', 10],
      ['g2', 20],
    ],
  );
  assert.equal(f.jobs.get('3')!.jobsAhead, 3, 'the running job counts as ahead');
});

test('a job whose model never becomes ready is unreachable, not given a made-up time', () => {
  const f = forecastQueue(input({ backends: [gpu('g', ['a'], { readyModels: new Set(['a']) })], waiting: [job('x', 'b', 10, 1), job('y', 'a', 10, 2)] }));
  assert.deepEqual(f.unreachable, ['x']);
  assert.equal(f.jobs.get('y')!.startAt, NOW);
});

test('the assumed share counts the seconds that rest on figures not yet measured', () => {
  const f = forecastQueue(input({ backends: [gpu('g', ['a'])], waiting: [job('1', 'a', 30, 1, 'normal', false), job('2', 'a', 10, 2)] }));
  assert.equal(f.jobs.get('1')!.assumedShare, 1);
  assert.equal(f.jobs.get('2')!.assumedShare, 0.75);
});

test('downloads share the link: when one ends the others speed up', () => {
  const done = forecastDownloads(
    [
      { modelId: 'big', bytesRemaining: 300 },
      { modelId: 'small', bytesRemaining: 100 },
    ],
    10,
    NOW,
  );
  // Both at 5 B/s until small ends at 20 s (big has 200 left), then big alone at 10 B/s: 20 s more.
  assert.equal(done.get('small'), NOW + 20 * S);
  assert.equal(done.get('big'), NOW + 40 * S);
  assert.equal(forecastDownloads([{ modelId: 'x', bytesRemaining: 1 }], 0, NOW).get('x'), Infinity);
});

function order(f: ReturnType<typeof forecastQueue>): string[] {
  return [...f.jobs.values()].sort((a, b) => a.startAt - b.startAt).map((j) => j.jobId);
}
