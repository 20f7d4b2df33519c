import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PRIORITIES } from '../../../src/core/vocabulary.js';
import { InvalidCursorError, isJobAlreadyExistsError, isQueueFullError, type QueueFullError } from '../../../src/runtime/job-store.js';
import { newJob, seededRandom } from '../job-fixtures.js';
import type { JobStoreFactory } from '../job-store-contract.js';

/** Accepting and reading jobs: durability across a reopen, the queue limit, ids, listing, counts and the snapshot. */
export function storageContract(storeName: string, storeFixture: JobStoreFactory): void {
  test(`${storeName}: an enqueued job is stored when enqueue resolves: a store opened after close finds it whole`, async (t) => {
    const { store, clock, open } = storeFixture(t);
    const accepted = await store.enqueue(newJob({ id: 'job-1', model: 'i2v-A14B', priority: 'high', maxWaitSeconds: 600 }));
    await store.close();

    const reopened = open();
    const found = await reopened.get('job-1');
    assert.deepEqual(found, accepted);
    assert.equal(found?.status, 'queued');
    assert.equal(found?.priority, 'high');
    assert.equal(found?.requestedModel, 'i2v-A14B');
    assert.equal(found?.deadline, clock.now() + 600_000);
    assert.equal(found?.maxAttempts, 3);
    assert.deepEqual(
      found?.timeline.map((e) => e.kind),
      ['accepted', 'planned', 'queued'],
    );
  });

  test(`${storeName}: a full queue refuses a job with the size and a retry hint, and stores nothing of it`, async (t) => {
    const { store } = storeFixture(t, { maxQueueSize: 3, retryAfterSeconds: 120 });
    for (const id of ['a', 'b', 'c']) await store.enqueue(newJob({ id }));

    await assert.rejects(store.enqueue(newJob({ id: 'd' })), (error) => {
      assert.ok(isQueueFullError(error));
      const full = error as QueueFullError;
      assert.equal(full.size, 3);
      assert.equal(full.maxSize, 3);
      assert.equal(full.retryAfterSeconds, 120);
      assert.match(full.message, /3 of 3/);
      return true;
    });
    assert.equal(await store.get('d'), null);
    assert.equal((await store.counts()).queued, 3);

    // A running job no longer waits, so it frees a place.
    await store.claimNext({ owner: 'worker-1' });
    await store.enqueue(newJob({ id: 'd' }));
    assert.equal((await store.get('d'))?.status, 'queued');
  });

  test(`${storeName}: the queue limit counts jobs waiting for a model too, with the documented default of 100`, async (t) => {
    const { store } = storeFixture(t);
    assert.equal(store.maxQueueSize, 100);
    for (let i = 0; i < 99; i++) await store.enqueue(newJob());
    await store.enqueue({ ...newJob({ id: 'parked' }), initialState: 'waiting_for_model' });
    await assert.rejects(store.enqueue(newJob()), (error) => isQueueFullError(error) && error.size === 100 && error.retryAfterSeconds === 300);
  });

  test(`${storeName}: a job id can be accepted once`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'same' }));
    await assert.rejects(store.enqueue(newJob({ id: 'same' })), (error) => isJobAlreadyExistsError(error) && error.jobId === 'same');
    assert.equal((await store.counts()).queued, 1);
  });

  test(`${storeName}: list pages through jobs in acceptance order with a cursor, filtered by state, either way round`, async (t) => {
    const { store } = storeFixture(t);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await store.enqueue(newJob({ id }));
    await store.claimNext({ owner: 'worker-1' }); // a runs

    const first = await store.list({ limit: 2 });
    assert.deepEqual(first.jobs.map((j) => j.id), ['a', 'b']);
    assert.ok(first.nextCursor);
    const second = await store.list({ limit: 2, cursor: first.nextCursor });
    assert.deepEqual(second.jobs.map((j) => j.id), ['c', 'd']);
    const last = await store.list({ limit: 2, cursor: second.nextCursor ?? undefined });
    assert.deepEqual(last.jobs.map((j) => j.id), ['e']);
    assert.equal(last.nextCursor, null);

    assert.deepEqual((await store.list({ status: 'queued' })).jobs.map((j) => j.id), ['b', 'c', 'd', 'e']);
    assert.deepEqual((await store.list({ status: ['running', 'succeeded'] })).jobs.map((j) => j.id), ['a']);
    assert.deepEqual((await store.list({ order: 'newest_first', limit: 3 })).jobs.map((j) => j.id), ['e', 'd', 'c']);
    await assert.rejects(store.list({ cursor: 'not-a-cursor' }), InvalidCursorError);
  });

  test(`${storeName}: counts by state and the queue snapshot by model and priority`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ model: 't2v-A14B', priority: 'high' }));
    await store.enqueue(newJob({ model: 't2v-A14B', priority: 'low' }));
    await store.enqueue(newJob({ model: 'ti2v-5B', priority: 'high' }));
    await store.enqueue({ ...newJob({ model: 'i2v-A14B', priority: 'critical' }), initialState: 'waiting_for_model' });
    await store.claimNext({ owner: 'worker-1', readyModels: new Set(['ti2v-5B']) });

    assert.deepEqual(await store.counts(), { queued: 2, waiting_for_model: 1, running: 1, succeeded: 0, failed: 0, cancelled: 0, expired: 0 });
    const snapshot = await store.queueSnapshot();
    assert.equal(snapshot.total, 3);
    assert.deepEqual(snapshot.byModel['t2v-A14B'], {
      queued: { critical: 0, high: 1, normal: 0, low: 1 },
      waitingForModel: { critical: 0, high: 0, normal: 0, low: 0 },
      total: 2,
    });
    assert.deepEqual(snapshot.byModel['i2v-A14B']?.waitingForModel, { critical: 1, high: 0, normal: 0, low: 0 });
    assert.equal(snapshot.byModel['ti2v-5B'], undefined, 'a running job is not in the queue');
  });

  test(`${storeName}: the queue snapshot matches a recount of the queue after every kind of change`, async (t) => {
    const { store, clock } = storeFixture(t, { maxQueueSize: 1000, maxAttempts: 2 });
    const random = seededRandom(7);
    const models = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const recount = async (): Promise<Record<string, string>> => {
      const counts: Record<string, number> = {};
      for (const status of ['queued', 'waiting_for_model'] as const) {
        for (const job of await store.listQueue({ status })) {
          const key = `${status}/${job.waitingFor ?? job.modelUsed}/${job.priority}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
      }
      return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, String(n)]));
    };
    const fromSnapshot = async (): Promise<Record<string, string>> => {
      const counts: Record<string, string> = {};
      for (const [model, c] of Object.entries((await store.queueSnapshot()).byModel)) {
        for (const [status, byPriority] of [['queued', c.queued], ['waiting_for_model', c.waitingForModel]] as const) {
          for (const [priority, n] of Object.entries(byPriority)) if (n > 0) counts[`${status}/${model}/${priority}`] = String(n);
        }
      }
      return counts;
    };
    for (let step = 0; step < 400; step++) {
      await clock.advance(1000);
      const roll = random();
      const running = (await store.list({ status: 'running' })).jobs;
      const queued = (await store.list({ status: ['queued', 'waiting_for_model'] })).jobs;
      if (roll < 0.35 || queued.length === 0) {
        const job = newJob({ model: pick(models), priority: pick(PRIORITIES), ...(random() < 0.2 ? { maxWaitSeconds: 5 } : {}) });
        await store.enqueue(random() < 0.3 ? { ...job, initialState: 'waiting_for_model', waitingFor: pick(models) } : job);
      } else if (roll < 0.5) {
        await store.claimNext({ owner: 'w' });
      } else if (roll < 0.58 && running.length > 0) {
        await store.fail(pick(running).id, 'w', { message: 'boom' }, { retry: true });
      } else if (roll < 0.64 && running.length > 0) {
        await store.complete(pick(running).id, 'w', { path: '/tmp/out.gif', mediaType: 'image/gif', sizeBytes: 1, isPreview: false });
      } else if (roll < 0.7 && running.length > 0) {
        await store.setWaitingForModel(pick(running).id, { modelId: pick(models), owner: 'w', message: 'model gone' });
      } else if (roll < 0.78) {
        await store.cancel(pick(queued).id, 'changed my mind');
      } else if (roll < 0.86) {
        await store.releaseWaiting(pick(models));
      } else if (roll < 0.92) {
        await store.expireDue();
      } else {
        await store.purgeFinished(clock.now());
      }
      assert.deepEqual(await fromSnapshot(), await recount(), `after step ${step}`);
    }
  });

  test(`${storeName}: the oldest waiting job is the one accepted first, whatever its place in claim order`, async (t) => {
    const { store, clock } = storeFixture(t);
    assert.equal(await store.oldestWaitingAcceptedAt(), null);
    const start = clock.now();
    await store.enqueue({ ...newJob({ id: 'waits', model: 'i2v-A14B' }), initialState: 'waiting_for_model' });
    await clock.advance(1000);
    await store.enqueue(newJob({ id: 'low', priority: 'low' }));
    await clock.advance(4000);
    await store.enqueue(newJob({ id: 'critical', priority: 'critical' }));
    assert.equal(await store.oldestWaitingAcceptedAt(), start, 'a job waiting for a model counts');
    await store.cancel('waits', 'no longer needed');
    assert.equal((await store.listQueue())[0]?.id, 'critical');
    assert.equal(await store.oldestWaitingAcceptedAt(), start + 1000, 'the low job, not the head of the queue');
    await store.claimNext({ owner: 'w' });
    await store.claimNext({ owner: 'w' });
    assert.equal(await store.oldestWaitingAcceptedAt(), null);
  });
}
