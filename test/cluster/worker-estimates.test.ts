/**
 * A worker serves no API: its estimate tracker writes only the final truth of the jobs it ran. Beside a gateway's
 * tracker on the same store and events, a job gets one first promise (the gateway's), one final entry (the
 * worker's), and no `job.estimate` from the worker, whose view is its own backends alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCatalog } from '../../src/core/catalog.js';
import { EstimationConfigSchema } from '../../src/core/estimates.js';
import { EstimateLearner } from '../../src/core/learner.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { EstimateTracker } from '../../src/runtime/estimate-tracker.js';
import { startWorkerEngine } from './worker-engine.js';

test("a worker's tracker writes the outcome of the job it ran and announces no estimate; the gateway's promises it once", async () => {
  const w = await startWorkerEngine();
  try {
    const sources = {
      store: w.store,
      clock: w.clock,
      catalog: createCatalog(),
      estimation: EstimationConfigSchema.parse({}),
      learner: new EstimateLearner(),
      backends: [w.backend],
      availability: w.availability,
      agingSeconds: 600,
      affinity: { enabled: true, maxSkip: 3, spread: true },
    };
    const fromGateway: UnderstudyEvent[] = [];
    const fromWorker: UnderstudyEvent[] = [];
    // The gateway estimates and promises; the job ends on the worker, which writes the truth.
    const gateway = new EstimateTracker({ ...sources, emit: (e) => fromGateway.push(e), recordsOutcomeOf: () => false });
    const worker = new EstimateTracker({ ...sources, emit: (e) => fromWorker.push(e), outcomesOnly: true });
    const seen = w.events.length;
    const { job } = await w.engine.submit({ model: 'ti2v-5B', prompt: 'one promise, one truth' });
    await gateway.admit(job);
    let fed = seen;
    const feed = (): void => {
      for (const e of w.events.slice(fed)) {
        gateway.observe(e);
        worker.observe(e);
      }
      fed = w.events.length;
    };
    for (let i = 0; i < 2400 && !w.events.some((e) => e.type === 'job.succeeded' && e.jobId === job.id); i++) {
      feed();
      await w.clock.advance(250);
    }
    feed();
    await gateway.refresh();
    await worker.refresh();
    let entries = (await w.store.get(job.id))!.timeline.filter((e) => e.kind === 'estimate');
    for (let i = 0; i < 20 && !entries.some((e) => e.data?.final === true); i++) {
      await w.clock.flush();
      entries = (await w.store.get(job.id))!.timeline.filter((e) => e.kind === 'estimate');
    }
    assert.deepEqual(entries.map((e) => (e.data?.first === true ? 'first' : e.data?.final === true ? 'final' : 'other')), ['first', 'final']);
    assert.ok(fromGateway.some((e) => e.type === 'job.estimate'), 'the gateway announces its estimate');
    assert.deepEqual(fromWorker.filter((e) => e.type === 'job.estimate'), [], 'the worker announces none');
    await gateway.stop();
    await worker.stop();
  } finally {
    await w.close();
  }
});
