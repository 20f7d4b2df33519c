import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInvalidTransitionError, isJobNotFoundError, isLeaseLostError } from '../../../src/runtime/job-store.js';
import type { JobOutput } from '../../../src/runtime/job.js';
import { newJob, planFor, requirements } from '../job-fixtures.js';
import type { JobStoreFactory } from '../job-store-contract.js';

const OUTPUT: JobOutput = { path: '/outputs/job.mp4', mediaType: 'video/mp4', sizeBytes: 1_048_576, isPreview: false };

/** A job's life through the port: timeline, progress, failure and retry, cancel, expiry, waits, purge, links. */
export function lifecycleContract(storeName: string, storeFixture: JobStoreFactory): void {
  test(`${storeName}: the timeline records every step in order, with plain words and times that never go back`, async (t) => {
    const { store, clock } = storeFixture(t, { maxAttempts: 3 });
    await store.enqueue(newJob({ id: 'job', model: 't2v-A14B' }));
    await clock.advance(1000);
    await store.claimNext({ owner: 'worker-1' });
    await clock.advance(1000);
    await store.updateProgress('job', 'worker-1', 0.1, 'loading t2v-A14B');
    await store.updateProgress('job', 'worker-1', 0.2, 'loading t2v-A14B'); // same message: no new entry
    await store.updateProgress('job', 'worker-1', 0.5, 'denoising');
    await clock.advance(1000);
    await store.appendTimeline('job', { kind: 'recovery_attempt', message: 'clear_gpu_cache succeeded', data: { action: 'clear_gpu_cache' } });
    const lighter = requirements('ti2v-5B', { resolution: '1280x704' });
    await store.fail(
      'job',
      'worker-1',
      { failureType: 'vram_exhaustion', message: 'CUDA out of memory' },
      { retry: true, replan: { plan: { ...planFor('ti2v-5B', lighter), strategyType: 'alternative_model' }, modelUsed: 'ti2v-5B', requirements: lighter } },
    );
    await clock.advance(1000);
    await store.claimNext({ owner: 'worker-2' });
    await clock.advance(1000);
    const done = await store.complete('job', 'worker-2', OUTPUT);

    assert.deepEqual(
      done.timeline.map((e) => e.kind),
      ['accepted', 'planned', 'queued', 'started', 'progress', 'progress', 'recovery_attempt', 'failed', 'replanned', 'requeued', 'started', 'succeeded'],
    );
    const times = done.timeline.map((e) => e.at);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.match(done.timeline[3]?.message ?? '', /attempt 1 of 3 started by worker-1 on t2v-A14B/);
    assert.match(done.timeline[7]?.message ?? '', /attempt 1 of 3 on t2v-A14B failed: CUDA out of memory/);
    assert.deepEqual(done.timeline[7]?.data, { attempt: 1, model: 't2v-A14B', failureType: 'vram_exhaustion' });
    assert.match(done.timeline[10]?.message ?? '', /attempt 2 of 3 started by worker-2 on ti2v-5B/);
    assert.match(done.timeline[11]?.message ?? '', /succeeded on ti2v-5B/);

    assert.equal(done.status, 'succeeded');
    assert.equal(done.requestedModel, 't2v-A14B');
    assert.equal(done.modelUsed, 'ti2v-5B');
    assert.equal(done.plan.strategyType, 'alternative_model');
    assert.equal(done.request.requirements.resolution, '1280x704');
    assert.equal(done.attempts, 2);
    assert.equal(done.progress, 1);
    assert.equal(done.lease, null);
    assert.deepEqual(done.output, OUTPUT);
    assert.deepEqual(await store.get('job'), done);
  });

  test(`${storeName}: progress is clamped to 0..1, NaN is refused, and only the lease owner may report it`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'job' }));
    await store.claimNext({ owner: 'worker-1' });
    await store.updateProgress('job', 'worker-1', 1.2);
    assert.equal((await store.get('job'))?.progress, 1);
    await store.updateProgress('job', 'worker-1', -1, 'rewinding');
    const job = await store.get('job');
    assert.equal(job?.progress, 0);
    assert.equal(job?.progressMessage, 'rewinding');
    await assert.rejects(store.updateProgress('job', 'worker-1', Number.NaN), RangeError);
    await assert.rejects(store.updateProgress('job', 'worker-2', 0.5), (e) => isLeaseLostError(e) && e.currentOwner === 'worker-1');
  });

  test(`${storeName}: a failure without retry, or with attempts spent, fails the job with its error`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'no-retry' }));
    await store.enqueue(newJob({ id: 'one-attempt', maxAttempts: 1 }));

    await store.claimNext({ owner: 'w' });
    const noRetry = await store.fail('no-retry', 'w', { failureType: 'generation_pipeline_error', message: 'pipeline crashed' }, { retry: false });
    assert.equal(noRetry.status, 'failed');
    assert.deepEqual(noRetry.error, { failureType: 'generation_pipeline_error', message: 'pipeline crashed' });
    assert.match(noRetry.timeline.at(-1)?.message ?? '', /pipeline crashed; not retried/);

    await store.claimNext({ owner: 'w' });
    const spent = await store.fail('one-attempt', 'w', { message: 'backend unreachable' }, { retry: true });
    assert.equal(spent.status, 'failed');
    assert.match(spent.timeline.at(-1)?.message ?? '', /attempt 1 of 1 .*failed: backend unreachable; no attempts left/);
  });

  test(`${storeName}: a retried job keeps its place in the queue ahead of later jobs of its priority`, async (t) => {
    const { store, clock } = storeFixture(t);
    await store.enqueue(newJob({ id: 'first' }));
    await clock.advance(1000);
    await store.enqueue(newJob({ id: 'second' }));
    await store.claimNext({ owner: 'w' });
    const requeued = await store.fail('first', 'w', { message: 'flaky' }, { retry: true });
    assert.equal(requeued.status, 'queued');
    assert.equal(requeued.attempts, 1);
    assert.deepEqual(requeued.error, { message: 'flaky' }, 'the last error stays visible while it waits');
    assert.equal((await store.claimNext({ owner: 'w' }))?.id, 'first');
  });

  test(`${storeName}: cancel works in every non-terminal state; the worker of a cancelled running job is refused`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'running', priority: 'critical' }));
    await store.enqueue(newJob({ id: 'queued' }));
    await store.enqueue({ ...newJob({ id: 'waiting' }), initialState: 'waiting_for_model' });
    await store.claimNext({ owner: 'worker-1' });

    for (const [id, state] of [['queued', 'queued'], ['waiting', 'waiting_for_model'], ['running', 'running']] as const) {
      const cancelled = await store.cancel(id, 'user asked');
      assert.equal(cancelled.status, 'cancelled', id);
      assert.deepEqual(cancelled.error, { message: 'user asked' });
      assert.equal(cancelled.lease, null);
      const entry = cancelled.timeline.at(-1);
      assert.equal(entry?.kind, 'cancelled');
      assert.deepEqual(entry?.data, { previousStatus: state });
      assert.match(entry?.message ?? '', /user asked/);
    }
    assert.match((await store.get('running'))?.timeline.at(-1)?.message ?? '', /while running on t2v-A14B under worker-1/);

    await assert.rejects(store.renewLease('running', 'worker-1'), (e) => isLeaseLostError(e) && e.status === 'cancelled' && /renew/.test(e.message));
    await assert.rejects(store.complete('running', 'worker-1', OUTPUT), (e) => isLeaseLostError(e) && e.status === 'cancelled');
    await assert.rejects(store.fail('running', 'worker-1', { message: 'x' }, { retry: true }), isLeaseLostError);
    assert.equal((await store.get('running'))?.status, 'cancelled', 'the refused complete changed nothing');

    await assert.rejects(store.cancel('running', 'again'), (e) => {
      assert.ok(isInvalidTransitionError(e));
      assert.equal(e.status, 'cancelled');
      assert.equal(e.attempted, 'cancel');
      assert.match(e.message, /cannot cancel job running: it is cancelled/);
      return true;
    });
    await assert.rejects(store.cancel('nope', 'why'), (e) => isJobNotFoundError(e) && e.jobId === 'nope');
  });

  test(`${storeName}: cancel refuses finished jobs, and with ifState only cancels a job in that state`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'done' }));
    await store.enqueue(newJob({ id: 'queued' }));
    await store.claimNext({ owner: 'w' });
    await store.complete('done', 'w', OUTPUT);
    await assert.rejects(store.cancel('done', 'late'), (e) => isInvalidTransitionError(e) && e.status === 'succeeded');
    await assert.rejects(store.cancel('queued', 'only if waiting', { ifState: 'waiting_for_model' }), (e) => isInvalidTransitionError(e) && e.status === 'queued');
    assert.equal((await store.get('queued'))?.status, 'queued');
  });

  test(`${storeName}: expireDue expires waiting jobs at their deadline with the reason, and leaves running ones alone`, async (t) => {
    const { store, clock } = storeFixture(t);
    await store.enqueue(newJob({ id: 'queued', maxWaitSeconds: 60 }));
    await store.enqueue({ ...newJob({ id: 'waiting', maxWaitSeconds: 60 }), initialState: 'waiting_for_model' });
    await store.enqueue(newJob({ id: 'running', maxWaitSeconds: 60, priority: 'critical' }));
    await store.enqueue(newJob({ id: 'no-limit' }));
    await store.claimNext({ owner: 'w' });

    await clock.advance(59_999);
    assert.deepEqual(await store.expireDue(), []);
    await clock.advance(1);
    const expired = await store.expireDue();
    assert.deepEqual(expired.map((j) => j.id).sort(), ['queued', 'waiting']);
    for (const job of expired) {
      assert.equal(job.status, 'expired');
      assert.match(job.error?.message ?? '', /not started by its deadline 2026-01-01T00:01:00.000Z \(1 min after it was accepted\)/);
      assert.equal(job.timeline.at(-1)?.kind, 'expired');
    }
    assert.equal((await store.get('running'))?.status, 'running');
    assert.equal((await store.get('no-limit'))?.status, 'queued');
    assert.deepEqual(await store.expireDue(clock.now() + 365 * 86_400_000), []);
  });

  test(`${storeName}: a job can wait for its model, from the queue or handed back by its worker, until the model is released`, async (t) => {
    const { store } = storeFixture(t);
    await store.enqueue(newJob({ id: 'from-queue', model: 'i2v-A14B' }));
    await store.enqueue(newJob({ id: 'from-worker', model: 'i2v-A14B', priority: 'high' }));
    await store.enqueue(newJob({ id: 'other', model: 't2v-A14B', priority: 'low' }));

    const claimed = await store.claimNext({ owner: 'worker-1' });
    assert.equal(claimed?.id, 'from-worker');
    await assert.rejects(store.setWaitingForModel('from-worker', { modelId: 'i2v-A14B', message: 'not loaded' }), isInvalidTransitionError);
    await assert.rejects(store.setWaitingForModel('from-worker', { modelId: 'i2v-A14B', message: 'x', owner: 'worker-2' }), isLeaseLostError);
    const handedBack = await store.setWaitingForModel('from-worker', { modelId: 'i2v-A14B', message: 'i2v-A14B is still downloading', owner: 'worker-1' });
    assert.equal(handedBack.status, 'waiting_for_model');
    assert.equal(handedBack.waitingFor, 'i2v-A14B');
    assert.equal(handedBack.attempts, 0, 'handing a job back is not a failed attempt');
    assert.equal(handedBack.lease, null);
    await store.setWaitingForModel('from-queue', { modelId: 'i2v-A14B', message: 'i2v-A14B is still downloading' });

    assert.equal((await store.claimNext({ owner: 'worker-1' }))?.id, 'other', 'waiting jobs are not claimed');
    assert.deepEqual(await store.releaseWaiting('t2v-A14B'), []);
    const released = await store.releaseWaiting('i2v-A14B');
    assert.deepEqual(released.map((j) => [j.id, j.status, j.waitingFor]), [
      ['from-queue', 'queued', null],
      ['from-worker', 'queued', null],
    ]);
    assert.equal(released[0]?.timeline.at(-1)?.message, 'i2v-A14B is ready; queued');
    assert.equal((await store.claimNext({ owner: 'worker-1' }))?.id, 'from-worker', 'back in priority order');
    await store.complete('other', 'worker-1', OUTPUT);
    await assert.rejects(store.setWaitingForModel('other', { modelId: 'x', message: 'x' }), (e) => isInvalidTransitionError(e) && e.status === 'succeeded');
  });

  test(`${storeName}: purgeFinished removes finished jobs past retention (default 7 days) and never waiting or running ones`, async (t) => {
    const { store, clock, orphanedTimelineEntries } = storeFixture(t);
    await store.enqueue(newJob({ id: 'old-success' }));
    await store.enqueue(newJob({ id: 'recent-failure' }));
    await store.enqueue(newJob({ id: 'still-running' }));
    await store.enqueue(newJob({ id: 'still-queued', priority: 'low' }));
    await store.claimNext({ owner: 'w' });
    await store.complete('old-success', 'w', OUTPUT);
    await clock.advance(86_400_000);
    await store.claimNext({ owner: 'w' });
    await store.fail('recent-failure', 'w', { message: 'x' }, { retry: false });
    await store.claimNext({ owner: 'w', leaseMs: 30 * 86_400_000 });

    await clock.advance(6 * 86_400_000);
    assert.equal(await store.purgeFinished(), 0, 'exactly 7 days old is kept');
    await clock.advance(1);
    assert.equal(await store.purgeFinished(), 1);
    assert.equal(await store.get('old-success'), null);
    assert.equal(await store.purgeFinished(clock.now() + 86_400_000), 1);
    assert.deepEqual((await store.list()).jobs.map((j) => j.id), ['still-running', 'still-queued']);

    assert.equal(await orphanedTimelineEntries(), 0, 'their timelines went with them');
    assert.deepEqual(await store.counts(), { queued: 1, waiting_for_model: 0, running: 1, succeeded: 0, failed: 0, cancelled: 0, expired: 0 });
  });

  test(`${storeName}: a hybrid plan links the requested-model job to the alternative job that runs first`, async (t) => {
    const { store } = storeFixture(t);
    const alternative = await store.enqueue(newJob({ id: 'now', model: 'ti2v-5B' }));
    await store.enqueue({ ...newJob({ id: 'later', model: 't2v-A14B' }), initialState: 'waiting_for_model', hybridOf: alternative.id, parentJobId: alternative.id });
    const later = await store.get('later');
    assert.equal(later?.hybridOf, 'now');
    assert.equal(later?.parentJobId, 'now');
    assert.equal((await store.get('now'))?.hybridOf, undefined);
  });

  test(`${storeName}: appendTimeline on an unknown job is a JobNotFoundError`, async (t) => {
    const { store } = storeFixture(t);
    await assert.rejects(store.appendTimeline('ghost', { kind: 'recovery_attempt', message: 'x' }), isJobNotFoundError);
  });
}
