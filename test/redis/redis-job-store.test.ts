/** What the Redis store adds to the contract: BullMQ's queues and locks kept in step with the records. */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisJobStore } from '../../src/adapters/redis/index.js';
import { isLeaseLostError } from '../../src/runtime/job-store.js';
import type { Job, JobOutput } from '../../src/runtime/job.js';
import { newJob, planFor, requirements } from '../jobs/job-fixtures.js';
import { deleteKeys, MemoryLogger, REDIS_URL, redisStoreFixture, requireRedis } from './redis-fixtures.js';

await requireRedis();

const OUTPUT: JobOutput = { path: '/outputs/job.mp4', mediaType: 'video/mp4', sizeBytes: 1, isPreview: false };

/** BullMQ's state of job `id` in the queue of `model` under `prefix`. */
async function bullState(t: TestContext, prefix: string, model: string, id: string): Promise<string> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(`model.${model}`, { connection, prefix: `${prefix}:bull` });
  try {
    return String(await queue.getJobState(id));
  } finally {
    await queue.close();
    connection.disconnect();
    void t;
  }
}

/** Claims until a job comes, for at most 10 s of real time (BullMQ's stalled check runs on real timers). */
async function claimWithin(store: RedisJobStore, owner: string): Promise<Job | null> {
  for (let i = 0; i < 100; i++) {
    const job = await store.claimNext({ owner });
    if (job) return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

/** Deletes BullMQ's keys of a model's queue, as a crash between storing a job and enqueueing it would leave it. */
async function loseQueue(prefix: string, model: string): Promise<void> {
  await deleteKeys(REDIS_URL, `${prefix}:bull:model.${model}:*`);
}

test('RedisJobStore: each job lives in its model\'s BullMQ queue while queued, active while running, and nowhere when waiting or done', async (t) => {
  const { store, prefix } = redisStoreFixture(t);
  await store.enqueue(newJob({ id: 'queued', model: 't2v-A14B' }));
  await store.enqueue({ ...newJob({ id: 'parked', model: 'i2v-A14B' }), initialState: 'waiting_for_model' });
  assert.equal(await bullState(t, prefix, 't2v-A14B', 'queued'), 'prioritized');
  assert.equal(await bullState(t, prefix, 'i2v-A14B', 'parked'), 'unknown', 'a job waiting for its model is in no queue');

  await store.claimNext({ owner: 'w' });
  assert.equal(await bullState(t, prefix, 't2v-A14B', 'queued'), 'active');
  await store.complete('queued', 'w', OUTPUT);
  assert.equal(await bullState(t, prefix, 't2v-A14B', 'queued'), 'unknown', 'BullMQ keeps no finished job; the record keeps its history');

  await store.releaseWaiting('i2v-A14B');
  assert.equal(await bullState(t, prefix, 'i2v-A14B', 'parked'), 'prioritized');
});

test('RedisJobStore: a crash between storing a job and enqueueing it is healed by reconcile at open, idempotently', async (t) => {
  const { store, prefix, clock } = redisStoreFixture(t);
  await store.enqueue(newJob({ id: 'lost', model: 'ti2v-5B' }));
  await store.enqueue(newJob({ id: 'kept', model: 'ti2v-5B' }));
  await store.claimNext({ owner: 'w' }); // lost runs: its queue entry is active
  await store.fail('lost', 'w', { message: 'flaky' }, { retry: true });
  await loseQueue(prefix, 'ti2v-5B');
  assert.equal(await bullState(t, prefix, 'ti2v-5B', 'kept'), 'unknown');

  const reopened = await RedisJobStore.open({ address: REDIS_URL, prefix, clock, allowVolatile: true, stalledIntervalMs: 0, logger: new MemoryLogger() });
  t.after(() => reopened.close());
  assert.equal(await bullState(t, prefix, 'ti2v-5B', 'lost'), 'prioritized');
  assert.equal(await bullState(t, prefix, 'ti2v-5B', 'kept'), 'prioritized');
  assert.equal(await reopened.reconcile(), 2, 'a second pass changes nothing');
  assert.deepEqual([(await reopened.claimNext({ owner: 'w' }))?.id, (await reopened.claimNext({ owner: 'w' }))?.id], ['lost', 'kept']);
  assert.equal(await reopened.claimNext({ owner: 'w' }), null, 'each job once');
});

test('RedisJobStore: a claim heals a queued job whose queue entry is missing, without waiting for reconcile', async (t) => {
  const { store, prefix } = redisStoreFixture(t);
  await store.enqueue(newJob({ id: 'job' }));
  await loseQueue(prefix, 't2v-A14B');
  assert.equal((await store.claimNext({ owner: 'w' }))?.id, 'job');
});

test('RedisJobStore: a worker whose BullMQ lock is gone (partition, SIGSTOP) cannot complete: the lapse is recorded and the next holder\'s result counts', async (t) => {
  const { store, prefix, open } = redisStoreFixture(t, { leaseMs: 60_000 });
  // The lockless entry stays active in BullMQ until a stalled-job check gives it back: the other worker runs one.
  const other = open({ stalledIntervalMs: 50 });
  await store.enqueue(newJob({ id: 'job' }));
  await store.claimNext({ owner: 'stopped' });
  // The lock's TTL ran out while the worker was stopped: Redis dropped the key.
  await deleteKeys(REDIS_URL, `${prefix}:bull:model.t2v-A14B:job:lock`);

  await assert.rejects(store.complete('job', 'stopped', OUTPUT), (e) => isLeaseLostError(e) && e.status === 'queued');
  const lapsed = await store.get('job');
  assert.deepEqual(lapsed?.timeline.slice(-2).map((e) => e.kind), ['lease_lapsed', 'requeued']);
  assert.equal(lapsed?.attempts, 1, 'the lost attempt counts');

  const rerun = await claimWithin(other, 'healthy');
  assert.equal(rerun?.attempts, 2);
  await assert.rejects(store.complete('job', 'stopped', OUTPUT), isLeaseLostError, 'still refused once another worker holds it');
  const done = await other.complete('job', 'healthy', { ...OUTPUT, path: '/outputs/healthy.mp4' });
  assert.equal(done.output?.path, '/outputs/healthy.mp4');
});

test('RedisJobStore: a lapsed lease whose lock already expired is claimable at once, without waiting for a stalled check', async (t) => {
  const { store, clock, open, prefix } = redisStoreFixture(t, { leaseMs: 2_000 });
  const other = open({ stalledIntervalMs: 0 });
  await store.enqueue(newJob({ id: 'job' }));
  await store.claimNext({ owner: 'killed' });
  // SIGKILL: nothing renews the lock, whose TTL runs out in Redis before housekeeping sees the lapse.
  await deleteKeys(REDIS_URL, `${prefix}:bull:model.t2v-A14B:job:lock`);
  await clock.advance(2_001);
  const lapsed = await store.recoverLapsedLeases();
  assert.deepEqual(lapsed.map((j) => [j.id, j.status]), [['job', 'queued']]);
  const rerun = await other.claimNext({ owner: 'survivor' });
  assert.equal(rerun?.id, 'job', 'the survivor takes it on its first try');
  assert.equal(rerun?.attempts, 2);
});

test('RedisJobStore: a crashed worker\'s job comes back through BullMQ\'s stalled-job check, in real time, with its attempt counted', async (t) => {
  // Real time: a 400 ms lock and a 100 ms stalled check, the only wait in these tests.
  const { store: crashed, open } = redisStoreFixture(t, { leaseMs: 400 });
  await crashed.enqueue(newJob({ id: 'job' }));
  await crashed.claimNext({ owner: 'crashed' });
  await crashed.close(); // gone without a word: its lock is left to expire

  const survivor = open({ stalledIntervalMs: 100 });
  assert.equal(await survivor.claimNext({ owner: 'survivor' }), null, 'still locked by the crashed worker');
  const rerun = await claimWithin(survivor, 'survivor');
  assert.equal(rerun?.attempts, 2);
  assert.deepEqual(rerun?.timeline.slice(-3).map((e) => e.kind), ['lease_lapsed', 'requeued', 'started']);
});

test('RedisJobStore: concurrent claims from three stores run every job exactly once', async (t) => {
  const { store, open } = redisStoreFixture(t, { maxQueueSize: 1000 });
  const models = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
  for (let i = 0; i < 45; i++) await store.enqueue(newJob({ id: `job-${i}`, model: models[i % 3] }));
  const workers = [store, open(), open()];
  const ran = await Promise.all(
    workers.map(async (w, n) => {
      const ids: string[] = [];
      for (let job = await w.claimNext({ owner: `w${n}` }); job; job = await w.claimNext({ owner: `w${n}` })) {
        await w.complete(job.id, `w${n}`, OUTPUT);
        ids.push(job.id);
      }
      return ids;
    }),
  );
  const all = ran.flat();
  assert.equal(all.length, 45);
  assert.equal(new Set(all).size, 45);
  assert.equal((await store.counts()).succeeded, 45);
});

test('RedisJobStore: cancelling a running job removes it from BullMQ; a replanned job moves to its new model\'s queue', async (t) => {
  const { store, prefix } = redisStoreFixture(t);
  await store.enqueue(newJob({ id: 'cancelled' }));
  await store.enqueue(newJob({ id: 'replanned' }));
  await store.claimNext({ owner: 'w' });
  await store.cancel('cancelled', 'user asked');
  assert.equal(await bullState(t, prefix, 't2v-A14B', 'cancelled'), 'unknown');

  await store.claimNext({ owner: 'w' });
  const lighter = requirements('ti2v-5B');
  await store.fail('replanned', 'w', { message: 'out of memory' }, { retry: true, replan: { plan: planFor('ti2v-5B', lighter), modelUsed: 'ti2v-5B', requirements: lighter } });
  assert.equal(await bullState(t, prefix, 't2v-A14B', 'replanned'), 'unknown');
  assert.equal(await bullState(t, prefix, 'ti2v-5B', 'replanned'), 'prioritized');
  assert.equal(await store.claimNext({ owner: 'w', readyModels: new Set(['t2v-A14B']) }), null);
  assert.equal((await store.claimNext({ owner: 'w', readyModels: new Set(['ti2v-5B']) }))?.id, 'replanned');
});
