import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLeaseLostError } from '../../../src/runtime/job-store.js';
import { newJob } from '../job-fixtures.js';
import type { JobStoreFactory } from '../job-store-contract.js';

/** Leases: claims, renewals, lapses, and recovery by a store opened after a crash. */
export function leaseContract(storeName: string, storeFixture: JobStoreFactory): void {
  test(`${storeName}: a claim runs the job under a lease, counts the attempt and says who runs it`, async (t) => {
    const { store, clock } = storeFixture(t, { leaseMs: 30_000 });
    await store.enqueue(newJob({ id: 'job' }));
    const job = await store.claimNext({ owner: 'worker-1' });
    assert.equal(job?.status, 'running');
    assert.equal(job?.attempts, 1);
    assert.deepEqual(job?.lease, { owner: 'worker-1', expiresAt: clock.now() + 30_000 });
    assert.deepEqual(job?.timeline.at(-1)?.data, { owner: 'worker-1', attempt: 1, model: 't2v-A14B', leaseExpiresAt: clock.now() + 30_000 });
    assert.equal(await store.claimNext({ owner: 'worker-2' }), null, 'a running job is not claimed twice');
  });

  test(`${storeName}: a renewed lease does not lapse; only its owner may renew it`, async (t) => {
    const { store, clock } = storeFixture(t, { leaseMs: 10_000 });
    await store.enqueue(newJob({ id: 'job' }));
    await store.claimNext({ owner: 'worker-1' });
    await clock.advance(9_000);
    assert.deepEqual(await store.renewLease('job', 'worker-1'), { owner: 'worker-1', expiresAt: clock.now() + 10_000 });
    await clock.advance(9_000);
    assert.deepEqual(await store.recoverLapsedLeases(), []);
    assert.equal((await store.get('job'))?.status, 'running');
    await assert.rejects(store.renewLease('job', 'worker-2'), (e) => isLeaseLostError(e) && e.currentOwner === 'worker-1' && e.status === 'running');
  });

  test(`${storeName}: a lapsed lease requeues the job with the attempt counted, then fails it once attempts are spent`, async (t) => {
    const { store, clock } = storeFixture(t, { leaseMs: 10_000, maxAttempts: 2 });
    await store.enqueue(newJob({ id: 'job' }));

    await store.claimNext({ owner: 'worker-1' });
    await clock.advance(9_999);
    assert.deepEqual(await store.recoverLapsedLeases(), [], 'not lapsed a millisecond early');
    await clock.advance(1);
    const [requeued] = await store.recoverLapsedLeases();
    assert.equal(requeued?.status, 'queued');
    assert.equal(requeued?.attempts, 1);
    assert.equal(requeued?.lease, null);
    assert.deepEqual(requeued?.timeline.slice(-2).map((e) => e.kind), ['lease_lapsed', 'requeued']);
    assert.match(requeued?.timeline.at(-2)?.message ?? '', /the lease of worker-1 lapsed at 2026-01-01T00:00:10.000Z during attempt 1 of 2/);
    assert.match(requeued?.timeline.at(-1)?.message ?? '', /queued again for attempt 2 of 2/);
    await assert.rejects(store.complete('job', 'worker-1', { path: '/x', mediaType: 'video/mp4', sizeBytes: 1, isPreview: false }), (e) => isLeaseLostError(e) && e.status === 'queued');

    const second = await store.claimNext({ owner: 'worker-2' });
    assert.equal(second?.attempts, 2);
    await clock.advance(10_000);
    const [failed] = await store.recoverLapsedLeases();
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.attempts, 2);
    assert.match(failed?.error?.message ?? '', /lease lapsed.*no attempts left/);
    assert.deepEqual(failed?.timeline.slice(-2).map((e) => e.kind), ['lease_lapsed', 'failed']);
    assert.equal(await store.claimNext({ owner: 'worker-3' }), null);
  });

  test(`${storeName}: after a crash, a store opened on the same file requeues the jobs whose leases lapsed`, async (t) => {
    const { store: crashed, clock, open } = storeFixture(t, { leaseMs: 30_000 });
    await crashed.enqueue(newJob({ id: 'was-running', priority: 'high' }));
    await crashed.enqueue(newJob({ id: 'was-queued' }));
    await crashed.claimNext({ owner: 'gateway-1/worker' });
    // No complete, no close: the first store is simply abandoned while a second process opens the file.

    const restarted = open();
    assert.deepEqual(await restarted.recoverLapsedLeases(), [], 'a lease still running may belong to a live worker elsewhere');
    await clock.advance(30_000);
    const recovered = await restarted.recoverLapsedLeases();
    assert.deepEqual(recovered.map((j) => [j.id, j.status, j.attempts]), [['was-running', 'queued', 1]]);
    assert.equal((await restarted.get('was-queued'))?.status, 'queued');

    const rerun = await restarted.claimNext({ owner: 'gateway-2/worker' });
    assert.equal(rerun?.id, 'was-running');
    assert.equal(rerun?.attempts, 2);
    await assert.rejects(crashed.renewLease('was-running', 'gateway-1/worker'), isLeaseLostError, 'the old process, if alive, is refused');
  });

  test(`${storeName}: a store closed without finishing its running job leaves it recoverable on reopen`, async (t) => {
    const { store, clock, open } = storeFixture(t, { leaseMs: 5_000 });
    await store.enqueue(newJob({ id: 'job' }));
    await store.claimNext({ owner: 'worker-1' });
    await store.updateProgress('job', 'worker-1', 0.4, 'denoising');
    await store.close();

    await clock.advance(5_000);
    const reopened = open();
    const [job] = await reopened.recoverLapsedLeases();
    assert.equal(job?.id, 'job');
    assert.equal(job?.status, 'queued');
    assert.equal(job?.progress, 0, 'the next attempt starts from scratch');
    assert.deepEqual(job?.timeline.map((e) => e.kind), ['accepted', 'planned', 'queued', 'started', 'progress', 'lease_lapsed', 'requeued']);
  });
}
