import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sortQueue } from '../../../src/core/queue-ordering.js';
import { PRIORITIES, type Priority } from '../../../src/core/vocabulary.js';
import { drain, newJob, seededRandom } from '../job-fixtures.js';
import type { JobStoreFactory } from '../job-store-contract.js';

const MINUTE = 60_000;

/** Claim order: priorities, FIFO, aging, readiness, model affinity, deadlines. */
export function queueOrderContract(storeName: string, storeFixture: JobStoreFactory): void {
  test(`${storeName}: claims go critical > high > normal > low, first come first served within a priority`, async (t) => {
    const { store, clock } = storeFixture(t);
    const order: Array<[string, Priority]> = [
      ['low-1', 'low'],
      ['normal-1', 'normal'],
      ['high-1', 'high'],
      ['critical-1', 'critical'],
      ['normal-2', 'normal'],
      ['high-2', 'high'],
      ['low-2', 'low'],
      ['critical-2', 'critical'],
    ];
    for (const [id, priority] of order) {
      await store.enqueue(newJob({ id, priority }));
      await clock.advance(1000);
    }
    assert.deepEqual(await drain(store), ['critical-1', 'critical-2', 'high-1', 'high-2', 'normal-1', 'normal-2', 'low-1', 'low-2']);
  });

  test(`${storeName}: jobs accepted in the same millisecond keep their acceptance order`, async (t) => {
    const { store } = storeFixture(t);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const id of ids) await store.enqueue(newJob({ id }));
    assert.deepEqual(await drain(store), ids);
  });

  test(`${storeName}: aging: a low job overtakes a new critical one only once it has waited three levels of agingSeconds`, async (t) => {
    const { store, clock } = storeFixture(t, { agingSeconds: 600 });
    await store.enqueue(newJob({ id: 'old-low', priority: 'low' }));
    await clock.advance(30 * MINUTE - 1);
    await store.enqueue(newJob({ id: 'new-critical', priority: 'critical' }));

    // 29 min 59.999 s: low has climbed two levels (to high), still behind critical.
    assert.deepEqual((await store.listQueue()).map((j) => j.id), ['new-critical', 'old-low']);
    // 30 min: three levels, as urgent as critical and older, so first.
    assert.deepEqual((await store.listQueue({ now: clock.now() + 1 })).map((j) => j.id), ['old-low', 'new-critical']);
    await clock.advance(1);
    assert.equal((await store.claimNext({ owner: 'worker-1' }))?.id, 'old-low');
  });

  test(`${storeName}: aging off (agingSeconds 0): a low job never overtakes`, async (t) => {
    const { store, clock } = storeFixture(t, { agingSeconds: 0 });
    await store.enqueue(newJob({ id: 'old-low', priority: 'low' }));
    await clock.advance(48 * 60 * MINUTE);
    await store.enqueue(newJob({ id: 'new-normal', priority: 'normal' }));
    assert.deepEqual(await drain(store), ['new-normal', 'old-low']);
  });

  for (const agingSeconds of [600, 0]) {
    test(`${storeName}: the SQL queue order, queue positions and claims agree with core/queue-ordering on random queues (aging ${agingSeconds} s)`, async (t) => {
      const { store, clock } = storeFixture(t, { agingSeconds, maxQueueSize: 1000 });
      const random = seededRandom(42);
      const start = clock.now();
      const expected: Array<{ id: string; priority: Priority; queuedAt: number; sequence: number }> = [];
      for (let i = 0; i < 300; i++) {
        const priority = PRIORITIES[Math.floor(random() * PRIORITIES.length)] as Priority;
        // Times on a coarse grid so that many jobs share a millisecond, and ages straddle aging boundaries.
        const acceptedAt = start + Math.floor(random() * 40) * 150_000 + (random() < 0.3 ? 0 : Math.floor(random() * 3));
        const job = await store.enqueue(newJob({ id: `job-${i}`, priority, acceptedAt }));
        expected.push({ id: job.id, priority, queuedAt: acceptedAt, sequence: job.sequence });
      }
      for (const offset of [0, 599_999, 600_000, 1_799_999, 1_800_000, 4_321_000, 9_000_000]) {
        const now = start + offset;
        const sqlOrder = (await store.listQueue({ now })).map((j) => j.id);
        assert.deepEqual(sqlOrder, sortQueue(expected, now, agingSeconds).map((e) => e.id), `order at +${offset} ms`);
        assert.deepEqual((await store.listQueue({ now, limit: 17 })).map((j) => j.id), sqlOrder.slice(0, 17), `the first 17 at +${offset} ms`);
        const positions = await Promise.all(sqlOrder.map((id) => store.queuePosition(id, now)));
        assert.deepEqual(positions, sqlOrder.map((_, i) => i + 1), `queue positions at +${offset} ms`);
      }
      const now = start + 3_000_000;
      const first = await store.claimNext({ owner: 'worker-1', now });
      assert.equal(await store.queuePosition(first?.id ?? '', now), null, 'a running job has no queue position');
      assert.deepEqual([first?.id, ...(await drain(store, 'worker-1', now))], sortQueue(expected, now, agingSeconds).map((e) => e.id));
    });
  }

  test(`${storeName}: claimNext with readyModels (a set or a test) skips jobs whose model is not ready and leaves them queued`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 't2v-critical', model: 't2v-A14B', priority: 'critical' }));
    await store.enqueue(newJob({ id: 'i2v-high', model: 'i2v-A14B', priority: 'high' }));
    await store.enqueue(newJob({ id: 'ti2v-low', model: 'ti2v-5B', priority: 'low' }));

    assert.equal(await store.claimNext({ owner: 'w', readyModels: new Set() }), null);
    assert.equal(await store.claimNext({ owner: 'w', readyModels: new Set(['unknown-model']) }), null);
    assert.equal((await store.claimNext({ owner: 'w', readyModels: new Set(['ti2v-5B', 'i2v-A14B']) }))?.id, 'i2v-high');
    assert.equal((await store.claimNext({ owner: 'w', readyModels: (m) => m.startsWith('ti2v') }))?.id, 'ti2v-low');
    assert.equal(await store.claimNext({ owner: 'w', readyModels: () => false }), null);
    const left = await store.get('t2v-critical');
    assert.equal(left?.status, 'queued');
    assert.equal(left?.attempts, 0);
  });

  test(`${storeName}: model affinity takes a job for the loaded model past at most maxSkip jobs of the same priority`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 't2v-1', model: 't2v-A14B' }));
    await store.enqueue(newJob({ id: 't2v-2', model: 't2v-A14B' }));
    await store.enqueue(newJob({ id: 'ti2v-1', model: 'ti2v-5B' }));

    // ti2v-1 is third: reaching it skips two jobs, more than maxSkip 1 allows, so the head is taken.
    const first = await store.claimNext({ owner: 'w', preferModel: { modelId: 'ti2v-5B', maxSkip: 1 } });
    assert.equal(first?.id, 't2v-1');
    // Now it is second: one skip.
    const second = await store.claimNext({ owner: 'w', preferModel: { modelId: 'ti2v-5B', maxSkip: 1 } });
    assert.equal(second?.id, 'ti2v-1');
    assert.deepEqual(second?.timeline.at(-1)?.data?.skippedForAffinity, 1);
    // maxSkip 0 is no affinity at all.
    await store.enqueue(newJob({ id: 'ti2v-2', model: 'ti2v-5B' }));
    assert.equal((await store.claimNext({ owner: 'w', preferModel: { modelId: 'ti2v-5B', maxSkip: 0 } }))?.id, 't2v-2');
  });

  test(`${storeName}: model affinity never passes a more urgent job`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 't2v-critical', model: 't2v-A14B', priority: 'critical' }));
    await store.enqueue(newJob({ id: 'ti2v-normal', model: 'ti2v-5B', priority: 'normal' }));
    const claimed = await store.claimNext({ owner: 'w', preferModel: { modelId: 'ti2v-5B', maxSkip: 10 } });
    assert.equal(claimed?.id, 't2v-critical');
  });

  test(`${storeName}: model affinity and readyModels together: the preferred job must also be ready`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'i2v-1', model: 'i2v-A14B' }));
    await store.enqueue(newJob({ id: 't2v-1', model: 't2v-A14B' }));
    await store.enqueue(newJob({ id: 'ti2v-1', model: 'ti2v-5B' }));
    const claimed = await store.claimNext({
      owner: 'w',
      readyModels: new Set(['t2v-A14B', 'ti2v-5B']),
      preferModel: { modelId: 'ti2v-5B', maxSkip: 1 },
    });
    assert.equal(claimed?.id, 'ti2v-1', 'the unready i2v job is not counted as a skip');
  });

  test(`${storeName}: a claim does not start a job past its deadline`, async (t) => {
    const { store, clock } = storeFixture(t);
    await store.enqueue(newJob({ id: 'short', priority: 'critical', maxWaitSeconds: 10 }));
    await store.enqueue(newJob({ id: 'patient', priority: 'low' }));
    await clock.advance(10_000);
    assert.equal((await store.claimNext({ owner: 'w' }))?.id, 'patient');
    assert.equal((await store.get('short'))?.status, 'queued', 'left for expireDue to expire with its reason');
  });
}
