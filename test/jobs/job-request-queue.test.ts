import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StaticAvailability } from '../../src/core/availability.js';
import type { Priority } from '../../src/core/vocabulary.js';
import { InMemoryRequestQueue } from '../../src/runtime/in-memory-request-queue.js';
import { IntelligentFallbackManager } from '../../src/runtime/intelligent-fallback-manager.js';
import { JobRequestQueue } from '../../src/runtime/job-request-queue.js';
import { isQueueFullError, type QueuedRequest, type RequestQueue } from '../../src/runtime/request-queue.js';
import { newJob, requirements, storeFixture } from './job-fixtures.js';

const T0 = Date.UTC(2026, 0, 1);

function request(requestId: string, priority: Priority, expiresInMs: number, modelId = 't2v-A14B'): Omit<QueuedRequest, 'sequence'> {
  return { requestId, modelId, requirements: requirements(modelId, { priority }), priority, queuedAt: T0, expiresAt: T0 + expiresInMs };
}

/** What a queue port does through one scenario, without the implementation's sequence numbers. */
async function scenario(queue: RequestQueue): Promise<unknown[]> {
  const view = (items: QueuedRequest[]): unknown[] => items.map(({ sequence: _sequence, ...rest }) => rest);
  const transcript: unknown[] = [queue.maxSize];
  transcript.push(await queue.enqueue(request('r1', 'normal', 120_000)));
  transcript.push(await queue.enqueue(request('r2', 'low', 30_000, 'i2v-A14B')));
  transcript.push(await queue.enqueue(request('r3', 'critical', 120_000)));
  transcript.push(
    await queue.enqueue(request('r4', 'high', 120_000)).then(
      () => 'accepted',
      (error: unknown) => (isQueueFullError(error) ? { size: error.size, maxSize: error.maxSize } : error),
    ),
  );
  transcript.push(view(await queue.list(T0)));
  transcript.push(await queue.remove('r1'), await queue.remove('r1'), await queue.remove('unknown'));
  transcript.push(await queue.enqueue(request('r4', 'high', 120_000)));
  transcript.push(view(await queue.removeExpired(T0 + 29_999)));
  transcript.push(view(await queue.removeExpired(T0 + 30_000)));
  transcript.push(view(await queue.list(T0 + 30_000)).map((r) => (r as QueuedRequest).requestId));
  return transcript;
}

test('JobRequestQueue behaves as InMemoryRequestQueue: 1-based positions, queue order, full error, removal, expiry', async (t) => {
  const { store } = storeFixture(t, { maxQueueSize: 3, agingSeconds: 0 });
  const durable = await scenario(new JobRequestQueue(store));
  const inMemory = await scenario(new InMemoryRequestQueue({ maxSize: 3 }));
  assert.deepEqual(durable, inMemory);

  // And what that behaviour is, so that both cannot be wrong the same way.
  const [maxSize, p1, p2, p3, full, listed, removed, removedAgain, removedUnknown, p4, notYet, expired, left] = durable;
  assert.equal(maxSize, 3);
  assert.deepEqual([p1, p2, p3], [{ position: 1 }, { position: 2 }, { position: 1 }]);
  assert.deepEqual(full, { size: 3, maxSize: 3 });
  assert.deepEqual((listed as QueuedRequest[]).map((r) => [r.requestId, r.priority, r.modelId, r.expiresAt]), [
    ['r3', 'critical', 't2v-A14B', T0 + 120_000],
    ['r1', 'normal', 't2v-A14B', T0 + 120_000],
    ['r2', 'low', 'i2v-A14B', T0 + 30_000],
  ]);
  assert.deepEqual([removed, removedAgain, removedUnknown], [true, false, false]);
  assert.deepEqual(p4, { position: 2 });
  assert.deepEqual(notYet, []);
  assert.deepEqual((expired as QueuedRequest[]).map((r) => r.requestId), ['r2']);
  assert.deepEqual(left, ['r3', 'r4']);
});

test('requests queued through the port survive a restart, as jobs waiting for their model', async (t) => {
  const { store, open } = storeFixture(t);
  await new JobRequestQueue(store).enqueue(request('r1', 'high', 3_600_000));
  await store.close();

  const reopened = open();
  const [item] = await new JobRequestQueue(reopened).list(T0);
  assert.equal(item?.requestId, 'r1');
  assert.equal(item?.priority, 'high');
  const job = await reopened.get('r1');
  assert.equal(job?.status, 'waiting_for_model');
  assert.equal(job?.waitingFor, 't2v-A14B');
  assert.equal(job?.deadline, T0 + 3_600_000);
  assert.equal(job?.plan.strategyType, 'queue_and_wait');
});

test('a removed request leaves a cancelled job with the reason; a released or expired one leaves the port list', async (t) => {
  const { store } = storeFixture(t, { agingSeconds: 0 });
  const queue = new JobRequestQueue(store);
  await queue.enqueue(request('removed', 'normal', 60_000));
  await queue.enqueue(request('released', 'normal', 60_000, 'i2v-A14B'));
  await store.enqueue(newJob({ id: 'plain-queued', maxWaitSeconds: 1 }));

  assert.equal(await queue.remove('removed'), true);
  const removed = await store.get('removed');
  assert.equal(removed?.status, 'cancelled');
  assert.equal(removed?.timeline.at(-1)?.message, 'cancelled while waiting_for_model: removed from the request queue');

  await store.releaseWaiting('i2v-A14B');
  assert.deepEqual(await queue.list(T0), []);
  assert.equal(await queue.remove('released'), false, 'a released request is a queued job now, not the port’s to cancel');

  assert.deepEqual(await queue.removeExpired(T0 + 3_600_000), []);
  assert.equal((await store.get('plain-queued'))?.status, 'queued', "the port's expiry leaves ordinary queued jobs to expireDue");
});

test("the fallback manager's queue runs on the durable store and keeps its requests across a restart", async (t) => {
  const { store, clock, open } = storeFixture(t);
  const availability = new StaticAvailability([{ modelId: 't2v-A14B', status: 'downloading', bytesPresent: 1, bytesTotal: 2 }]);
  const manager = new IntelligentFallbackManager({ availability, clock, queue: new JobRequestQueue(store) });
  const result = await manager.queueRequestForDownloadingModel('t2v-A14B', { priority: 'high' });
  assert.equal(result.success, true);
  assert.equal(result.queuePosition, 1);
  await store.close();

  const restarted = new IntelligentFallbackManager({ availability, clock, queue: new JobRequestQueue(open()) });
  const status = await restarted.getQueueStatus();
  assert.equal(status.totalQueuedRequests, 1);
  assert.deepEqual(status.queueByModel, { 't2v-A14B': 1 });
  assert.equal(status.queueByPriority.high, 1);
  assert.equal(status.maxQueueSize, 100);
});
