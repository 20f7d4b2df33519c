import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEngine } from './fixtures.js';

test('a hung generation is stopped after stallSeconds without progress, recovered as a pipeline error, and run again', async () => {
  const h = await startEngine({ jobs: { stallSeconds: 30 } }, { faultScript: [{ kind: 'hang' }] });
  try {
    const { job } = await h.engine.submit({ model: 'ti2v-5B', prompt: 'hangs once' });
    await h.runUntilEvent('job.succeeded', job.id, 600_000, 1000);
    const done = (await h.engine.get(job.id))!;
    const failed = done.timeline.find((e) => e.kind === 'failed');
    assert.ok(failed, 'the hung attempt failed');
    assert.match(failed.message, /stalled: no progress for 30 s/);
    assert.equal(failed.data?.failureType, 'generation_pipeline_error');
    assert.equal(done.attempts, 2);
    const stalledAt = failed.at;
    const started = done.timeline.find((e) => e.kind === 'started')!.at;
    assert.ok(stalledAt - started >= 30_000 && stalledAt - started < 40_000, `stopped ${stalledAt - started} ms after it started`);
  } finally {
    await h.close();
  }
});
