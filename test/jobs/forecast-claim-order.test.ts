import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { forecastQueue } from '../../src/core/queue-forecast.js';
import type { Priority } from '../../src/core/vocabulary.js';
import { newJob, storeFixture } from '../jobs/job-fixtures.js';

const S = 1000;

test('the forecast order is the order the real job store claims in (priorities, aging, affinity), on random queues', async (t) => {
  const { store, clock } = storeFixture(t, { agingSeconds: 60, leaseMs: 10 ** 9 });
  const models = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
  const priorities: Priority[] = ['critical', 'high', 'normal', 'low'];
  let round = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ model: fc.integer({ min: 0, max: 2 }), priority: fc.integer({ min: 0, max: 3 }), gap: fc.integer({ min: 0, max: 90 }) }), { minLength: 1, maxLength: 14 }),
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 5, max: 200 }),
      async (specs, loadedIndex, seconds) => {
        round++;
        const ids: string[] = [];
        for (const [i, s] of specs.entries()) {
          await clock.advance(s.gap * S);
          const j = await store.enqueue(newJob({ id: `r${round}-${i}`, model: models[s.model]!, priority: priorities[s.priority]! }));
          ids.push(j.id);
        }
        const start = clock.now();
        const queued = await store.listQueue();
        const forecast = forecastQueue({
          now: start,
          agingSeconds: 60,
          affinity: { enabled: true, maxSkip: 3 },
          waiting: queued.map((q) => ({ id: q.id, modelId: q.modelUsed, generationSeconds: seconds, learned: true, priority: q.priority, queuedAt: q.createdAt, sequence: q.sequence })),
          running: [],
          backends: [{ id: 'g', slots: 1, loadedModels: [models[loadedIndex]!], readyModels: new Set(models), modelCapacity: 1, loadTime: () => ({ seconds: 0, learned: true }) }],
          readyAt: new Map(),
        });
        // The real claims, one at a time, each at the time the forecast says the GPU is free, preferring the model just run.
        let loaded = models[loadedIndex]!;
        const claimed: string[] = [];
        for (let i = 0; i < queued.length; i++) {
          const now = start + i * seconds * S;
          const next = await store.claimNext({ owner: 'w', now, preferModel: { modelId: loaded, maxSkip: 3 } });
          assert.ok(next);
          claimed.push(next.id);
          loaded = next.modelUsed;
          await store.complete(next.id, 'w', { path: '/dev/null', mediaType: 'image/gif', sizeBytes: 0, isPreview: false });
        }
        const predicted = [...forecast.jobs.values()].sort((a, b) => a.startAt - b.startAt).map((f) => f.jobId);
        assert.deepEqual(predicted, claimed);
      },
    ),
    { numRuns: 40, seed: 14 },
  );
});

