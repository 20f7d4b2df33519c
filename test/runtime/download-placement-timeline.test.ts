import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noteDownloadPlacement } from '../../src/runtime/download-placement-timeline.js';
import { newJob, storeFixture } from '../jobs/job-fixtures.js';

test('a placement is noted once in the timeline of each job waiting for that model, those that start waiting later included, and of no other job', async (t) => {
  const { store } = storeFixture(t);
  await store.enqueue({ ...newJob({ id: 'waits-1', model: 't2v-A14B' }), initialState: 'waiting_for_model', waitingFor: 't2v-A14B' });
  await store.enqueue({ ...newJob({ id: 'waits-other', model: 'i2v-A14B' }), initialState: 'waiting_for_model', waitingFor: 'i2v-A14B' });
  await store.enqueue(newJob({ id: 'queued', model: 't2v-A14B' }));
  const placed = { type: 'download.placed', at: 5_000, modelId: 't2v-A14B', workerId: 'gpu-2', message: 't2v-A14B downloads on gpu-2: it fits' } as const;
  await noteDownloadPlacement(store, placed);
  // Noted again while the download is followed: a job that began waiting since learns it, the others are not told twice.
  await store.enqueue({ ...newJob({ id: 'waits-2', model: 't2v-A14B' }), initialState: 'waiting_for_model', waitingFor: 't2v-A14B' });
  await noteDownloadPlacement(store, placed);
  for (const id of ['waits-1', 'waits-2']) {
    const placed = (await store.get(id))!.timeline.filter((e) => e.kind === 'download_placed');
    assert.deepEqual(placed, [{ at: 5_000, kind: 'download_placed', message: 't2v-A14B downloads on gpu-2: it fits', data: { modelId: 't2v-A14B', workerId: 'gpu-2' } }], id);
  }
  for (const id of ['waits-other', 'queued']) {
    assert.equal((await store.get(id))!.timeline.filter((e) => e.kind === 'download_placed').length, 0, id);
  }
});

test('a new placement (the worker left) is noted again', async (t) => {
  const { store } = storeFixture(t);
  await store.enqueue({ ...newJob({ id: 'waits', model: 't2v-A14B' }), initialState: 'waiting_for_model', waitingFor: 't2v-A14B' });
  await noteDownloadPlacement(store, { type: 'download.placed', at: 1, modelId: 't2v-A14B', workerId: 'a', message: 't2v-A14B downloads on a: it fits' });
  await noteDownloadPlacement(store, { type: 'download.placed', at: 2, modelId: 't2v-A14B', workerId: 'b', message: 't2v-A14B downloads on b (a left): it fits' });
  const notes = (await store.get('waits'))!.timeline.filter((e) => e.kind === 'download_placed').map((e) => e.message);
  assert.deepEqual(notes, ['t2v-A14B downloads on a: it fits', 't2v-A14B downloads on b (a left): it fits']);
});
