import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInvalidTransitionError, isLeaseLostError, isQueueFullError } from '../../src/runtime/job-store.js';
import {
  acceptJob,
  admitToQueue,
  cancelJob,
  claimJob,
  failAttempt,
  lapseLease,
  reportProgress,
  waitForModel,
  type JobFacts,
} from '../../src/runtime/job-transitions.js';
import { newJob, planFor, requirements } from '../jobs/job-fixtures.js';

const AT = Date.UTC(2026, 0, 1);

/** A job in `status` with `attempts` of 3 used, running under worker-1 when running. */
function facts(status: JobFacts['status'], attempts = 0): JobFacts {
  return {
    id: 'job',
    status,
    modelUsed: 't2v-A14B',
    waitingFor: null,
    attempts,
    maxAttempts: 3,
    lease: status === 'running' ? { owner: 'worker-1', expiresAt: AT + 60_000 } : null,
    progressMessage: null,
    deadline: null,
    createdAt: AT,
    error: null,
  };
}

test('acceptance decides the first state, the deadline, the attempt budget and the first three entries, reading no clock', () => {
  const accepted = acceptJob({ ...newJob({ maxWaitSeconds: 90 }), initialState: 'waiting_for_model' }, AT, 3);
  assert.equal(accepted.status, 'waiting_for_model');
  assert.equal(accepted.waitingFor, 't2v-A14B');
  assert.equal(accepted.deadline, AT + 90_000);
  assert.equal(accepted.maxAttempts, 3);
  assert.deepEqual(accepted.timeline.map((e) => [e.kind, e.at]), [['accepted', AT], ['planned', AT], ['waiting_for_model', AT]]);
  assert.throws(() => acceptJob({ ...newJob(), maxAttempts: 0 }, AT, 3), RangeError);
  assert.throws(() => admitToQueue(100, 100, 300), (e) => isQueueFullError(e) && e.retryAfterSeconds === 300);
  admitToQueue(99, 100, 300);
});

test('a claim counts the attempt; a failure requeues while attempts remain, with a new plan, and fails after', () => {
  const claim = claimJob(facts('queued', 1), 'worker-1', AT, 30_000, 2);
  assert.equal(claim.attempts, 2);
  assert.deepEqual(claim.lease, { owner: 'worker-1', expiresAt: AT + 30_000 });
  assert.equal(claim.timeline[0]?.data?.skippedForAffinity, 2);
  assert.throws(() => claimJob(facts('running', 1), 'worker-1', AT, 30_000), isInvalidTransitionError);

  const lighter = requirements('ti2v-5B');
  const replan = { plan: planFor('ti2v-5B', lighter), modelUsed: 'ti2v-5B', requirements: lighter };
  const retried = failAttempt(facts('running', 2), 'worker-1', { message: 'CUDA out of memory' }, { retry: true, replan }, AT);
  assert.equal(retried.status, 'queued');
  assert.equal(retried.modelUsed, 'ti2v-5B');
  assert.deepEqual(retried.timeline.map((e) => e.kind), ['failed', 'replanned', 'requeued']);
  assert.match(retried.timeline[2]?.message ?? '', /attempt 3 of 3 on ti2v-5B/);

  const spent = failAttempt(facts('running', 3), 'worker-1', { message: 'boom' }, { retry: true }, AT);
  assert.equal(spent.status, 'failed');
  assert.match(spent.timeline[0]?.message ?? '', /no attempts left$/);
  assert.throws(() => failAttempt(facts('running', 1), 'worker-2', { message: 'x' }, { retry: true }, AT), isLeaseLostError);
});

test('a lapsed lease counts the attempt; a job handed back for want of its model does not', () => {
  assert.equal(lapseLease(facts('running', 2), AT).status, 'queued');
  const failed = lapseLease(facts('running', 3), AT);
  assert.equal(failed.status, 'failed');
  assert.match(failed.error?.message ?? '', /lease lapsed.*no attempts left/);

  assert.equal(waitForModel(facts('running', 2), { modelId: 'i2v-A14B', message: 'gone', owner: 'worker-1' }, AT).attempts, 1);
  assert.equal(waitForModel(facts('queued', 2), { modelId: 'i2v-A14B', message: 'gone' }, AT).attempts, 2);
  assert.throws(() => waitForModel(facts('running', 2), { modelId: 'i2v-A14B', message: 'gone' }, AT), isInvalidTransitionError);
  assert.throws(() => waitForModel(facts('succeeded', 1), { modelId: 'i2v-A14B', message: 'gone' }, AT), isInvalidTransitionError);
});

test('progress is clamped and only a new message is a timeline entry; finished jobs cannot be cancelled', () => {
  const reported = reportProgress({ ...facts('running', 1), progressMessage: 'denoising' }, 'worker-1', 1.5, 'denoising', AT);
  assert.equal(reported.progress, 1);
  assert.deepEqual(reported.timeline, []);
  assert.throws(() => reportProgress(facts('running', 1), 'worker-1', Number.NaN, undefined, AT), RangeError);
  assert.match(cancelJob(facts('running', 1), 'user', AT).timeline[0]?.message ?? '', /while running on t2v-A14B under worker-1: user/);
  assert.throws(() => cancelJob(facts('succeeded', 1), 'user', AT), isInvalidTransitionError);
  assert.throws(() => cancelJob(facts('queued'), 'user', AT, 'waiting_for_model'), isInvalidTransitionError);
});
