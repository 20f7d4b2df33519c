/**
 * A lapse is two steps: the record is committed as queued, then the job's BullMQ entry is given back to its queue.
 * A process that dies between the two (a gateway whose Redis was SIGKILLed under it, which fails fast) leaves the
 * entry active in BullMQ without a lock. The next claim must take the job at once rather than wait for two passes
 * of BullMQ's stalled-job check (a minute at its default interval).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ModelQueues } from '../../src/adapters/redis/model-queues.js';
import { newJob } from '../jobs/job-fixtures.js';
import { deleteKeys, REDIS_URL, redisStoreFixture, requireRedis } from './redis-fixtures.js';

await requireRedis();

test('RedisJobStore: a job whose requeue was cut short (record queued, BullMQ entry active without a lock) is claimed at once', async (t) => {
  const { store, clock, open, prefix } = redisStoreFixture(t, { leaseMs: 2_000 });
  const survivor = open({ stalledIntervalMs: 0 });
  await store.enqueue(newJob({ id: 'job' }));
  await store.claimNext({ owner: 'killed' });
  await deleteKeys(REDIS_URL, `${prefix}:bull:model.t2v-A14B:job:lock`);
  await clock.advance(2_001);

  // Redis goes away right after the lapse is committed: the give-back never happens.
  const remove = ModelQueues.prototype.remove;
  ModelQueues.prototype.remove = () => Promise.reject(new Error('Connection is closed.'));
  try {
    await assert.rejects(store.recoverLapsedLeases(), /Connection is closed/);
  } finally {
    ModelQueues.prototype.remove = remove;
  }
  assert.equal((await store.get('job'))?.status, 'queued');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('model.t2v-A14B', { connection, prefix: `${prefix}:bull` });
  try {
    assert.equal(await queue.getJobState('job'), 'active', 'left active in BullMQ, with no lock');
  } finally {
    await queue.close();
    connection.disconnect();
  }

  const rerun = await survivor.claimNext({ owner: 'survivor' });
  assert.equal(rerun?.id, 'job', 'claimed on the first try');
  assert.equal(rerun.attempts, 2);
  const done = await survivor.complete('job', 'survivor', { path: '/outputs/job.gif', mediaType: 'image/gif', sizeBytes: 1, isPreview: false });
  assert.equal(done.status, 'succeeded');
});
