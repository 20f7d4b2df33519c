import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { startEngine } from './fixtures.js';

type EstimateEvent = Extract<UnderstudyEvent, { type: 'job.estimate' }>;

test('estimates follow the job: they move when the jobs ahead turn out faster, and the timeline keeps the first promise and the truth', async () => {
  // The simulated GPU runs 100× faster than the catalog says (timeScale 0.01), which the engine does not know.
  const h = await startEngine();
  try {
    const ids: string[] = [];
    for (const prompt of ['one', 'two', 'three', 'four']) ids.push((await h.engine.submit({ model: 'ti2v-5B', prompt })).job.id);
    const last = ids.at(-1)!;
    const first = h.engine.estimateOf(last)!;
    assert.ok(first.resultAt! - first.estimatedAt > 300_000, 'first promised from the catalog: four 80 s jobs');
    await h.runUntilEvent('job.succeeded', last);
    const moves = h.events.filter((e): e is EstimateEvent => e.type === 'job.estimate' && e.jobId === last);
    assert.ok(moves.length >= 2, `job.estimate sent as the estimate moved (${moves.length})`);
    assert.ok(moves.at(-1)!.resultAt! < first.resultAt! / 2 + first.estimatedAt / 2, 'the later estimate is much earlier than the first');
    for (let i = 1; i < moves.length; i++) {
      const [a, b] = [moves[i - 1]!, moves[i]!];
      const moved = Math.abs(b.resultAt! - a.resultAt!);
      assert.ok(moved > 5000 && moved > 0.1 * (a.resultAt! - b.at), 'only moves of more than 10 % and 5 s are sent');
    }
    // The truth is written just after the job.succeeded event.
    await h.runUntil(async () => (await h.engine.get(last))!.timeline.filter((e) => e.kind === 'estimate').length >= 2);
    const done = (await h.engine.get(last))!;
    const entries = done.timeline.filter((e) => e.kind === 'estimate');
    assert.equal(entries.length, 2);
    assert.equal(entries[0]!.data?.first, true);
    assert.equal(entries[0]!.data?.resultAt, first.resultAt);
    assert.equal(entries[1]!.data?.final, true);
    assert.equal(entries[1]!.data?.actualAt, done.timeline.find((e) => e.kind === 'succeeded')!.at);
    assert.equal(h.engine.estimateOf(last), undefined, 'a finished job has no current estimate');
  } finally {
    await h.close();
  }
});

test('a job behind a download is promised the download and the GPU work ahead of it, not the download alone', async () => {
  const h = await startEngine({}, { downloadBytesPerSecond: 1024 ** 3, installed: ['ti2v-5B'] });
  try {
    // Five ti2v-5B jobs keep the GPU busy for 5 × 80 s; the t2v-A14B download takes 12 s.
    for (let i = 0; i < 5; i++) await h.engine.submit({ model: 'ti2v-5B', prompt: `busy ${i}` });
    const waiting = await h.engine.submit({ model: 't2v-A14B', prompt: 'behind the download', allowAlternatives: false });
    assert.equal(waiting.job.status, 'waiting_for_model');
    const estimate = waiting.estimate!;
    const startIn = (estimate.startAt! - estimate.estimatedAt) / 1000;
    assert.ok(startIn > 300, `starts after the GPU work ahead (${startIn} s), though the download takes far less`);
    assert.match(estimate.factors.join('; '), /waits for its model's download/);
  } finally {
    await h.close();
  }
});
