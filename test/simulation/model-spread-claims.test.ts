import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseModel } from '../../src/core/model-spread.js';
import { forecastQueue } from '../../src/core/queue-forecast.js';
import type { Priority } from '../../src/core/vocabulary.js';
import { newJob, storeFixture } from '../jobs/job-fixtures.js';

const S = 1000;
const MODELS = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
const PRIORITIES: Priority[] = ['critical', 'high', 'normal', 'low'];

test('with model-aware dispatch on several GPUs, the forecast places every job where and when the real store’s claims put it', async (t) => {
  const { store, clock } = storeFixture(t, { agingSeconds: 60, leaseMs: 10 ** 9 });
  let round = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ model: fc.integer({ min: 0, max: 2 }), priority: fc.integer({ min: 0, max: 3 }), gap: fc.integer({ min: 0, max: 90 }) }), { minLength: 1, maxLength: 24 }),
      fc.array(fc.integer({ min: -1, max: 2 }), { minLength: 2, maxLength: 4 }),
      fc.array(fc.integer({ min: 5, max: 200 }), { minLength: 3, maxLength: 3 }),
      fc.integer({ min: 0, max: 90 }),
      async (specs, loadedAt, seconds, loadSeconds) => {
        round++;
        for (const [i, s] of specs.entries()) {
          await clock.advance(s.gap * S);
          await store.enqueue(newJob({ id: `r${round}-${i}`, model: MODELS[s.model]!, priority: PRIORITIES[s.priority]! }));
        }
        const start = clock.now();
        const queued = await store.listQueue();
        const generation = (modelId: string): number => seconds[MODELS.indexOf(modelId)]!;
        const forecast = forecastQueue({
          now: start,
          agingSeconds: 60,
          affinity: { enabled: true, maxSkip: 3, spread: true },
          waiting: queued.map((q) => ({ id: q.id, modelId: q.modelUsed, generationSeconds: generation(q.modelUsed), learned: true, priority: q.priority, queuedAt: q.createdAt, sequence: q.sequence })),
          running: [],
          backends: loadedAt.map((m, i) => ({ id: `g${i}`, slots: 1, loadedModels: m < 0 ? [] : [MODELS[m]!], readyModels: new Set(MODELS), modelCapacity: 1, loadTime: () => ({ seconds: loadSeconds, learned: true }) })),
          readyAt: new Map(),
        });
        // The real claims: each GPU, when its job ends (the first listed on a tie), asks the store for the model
        // model-spread chooses from the store's queued counts and the models the other GPUs run, as the scheduler does.
        const gpus = loadedAt.map((m) => ({ loaded: m < 0 ? undefined : MODELS[m], freeAt: start, running: undefined as string | undefined }));
        const placed = new Map<string, { backendId: string; startAt: number }>();
        for (let n = 0; n < queued.length; n++) {
          const g = gpus.reduce((best, x) => (x.freeAt < best.freeAt ? x : best));
          const i = gpus.indexOf(g);
          const snapshot = await store.queueSnapshot();
          const demand = MODELS.map((modelId) => ({
            modelId,
            queued: Object.values(snapshot.byModel[modelId]?.queued ?? {}).reduce((a, b) => a + b, 0),
            running: gpus.filter((o) => o !== g && o.freeAt > g.freeAt && o.running === modelId).length,
          }));
          const choice = chooseModel({ resident: g.loaded ? [g.loaded] : [], demand, maxSkip: 3 });
          const prefer = choice && { modelId: choice.modelId, maxSkip: Number.isFinite(choice.maxSkip) ? choice.maxSkip : snapshot.total };
          const job = await store.claimNext({ owner: 'w', now: g.freeAt, ...(prefer ? { preferModel: prefer } : {}) });
          assert.ok(job);
          placed.set(job.id, { backendId: `g${i}`, startAt: g.freeAt });
          await store.complete(job.id, 'w', { path: '/dev/null', mediaType: 'image/gif', sizeBytes: 0, isPreview: false });
          const load = g.loaded === job.modelUsed ? 0 : loadSeconds;
          g.loaded = g.running = job.modelUsed;
          g.freeAt += (load + generation(job.modelUsed)) * S;
        }
        const predicted = new Map([...forecast.jobs.values()].map((f) => [f.jobId, { backendId: f.backendId, startAt: f.startAt }]));
        assert.deepEqual(predicted, placed);
      },
    ),
    { numRuns: 60, seed: 14 },
  );
});
