/**
 * A worker frozen past its lease (SIGSTOP, a long GC pause, a partition) can finish its generation before it learns
 * that the job was taken over. Its result must not count, and its file must not replace the output of the worker
 * that took over: each attempt writes its own file, and a refused completion removes it. Found reading the SIGSTOP
 * process test (worker-crash.test.ts): every attempt wrote `<job id>.gif` in the shared outputs directory.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { outputFileName } from '../../src/runtime/backend.js';
import { isLeaseLostError, type JobStore } from '../../src/runtime/job-store.js';
import type { JobOutput } from '../../src/runtime/job.js';
import { startWorkerEngine } from './worker-engine.js';

test("a worker that lost its lease unnoticed leaves the new holder's output alone and removes its own file", async (t) => {
  const worker = await startWorkerEngine({ installed: ['ti2v-5B'], timeScale: 0.01 });
  t.after(() => worker.close());
  const { store, artifacts, clock } = worker;
  const complete: JobStore['complete'] = store.complete.bind(store);
  const newHolder = 'worker-b/gpu-0';
  const theirs = 'the output of the worker that took over';
  let stale: JobOutput | undefined;
  let refusal: unknown;
  store.complete = async (id, owner, output) => {
    if (owner === newHolder) return complete(id, owner, output);
    // Just before this worker completes, its lease has lapsed and another worker has run the job and completed it.
    stale = output;
    const later = clock.now() + 120_000;
    await store.recoverLapsedLeases(later);
    const taken = await store.claimNext({ owner: newHolder, now: later });
    assert.equal(taken?.attempts, 2);
    const path = join(artifacts.outputDir, outputFileName(id, 'gif', taken.attempts));
    await writeFile(path, theirs);
    await complete(id, newHolder, { path: artifacts.toStored(path), mediaType: 'image/gif', sizeBytes: theirs.length, isPreview: false });
    try {
      return await complete(id, owner, output);
    } catch (error) {
      refusal = error;
      throw error;
    }
  };

  const { job } = await worker.engine.submit({ model: 'ti2v-5B', prompt: 'a red fox running through snow' });
  for (let i = 0; i < 200 && (stale === undefined || worker.scheduler.runningCount > 0); i++) await clock.advance(250);
  assert.ok(isLeaseLostError(refusal), `the stale completion was refused: ${String(refusal)}`);

  const done = await store.get(job.id);
  assert.equal(done?.status, 'succeeded');
  assert.equal(done.attempts, 2);
  assert.equal(done.timeline.filter((e) => e.kind === 'succeeded').length, 1);
  assert.equal(done.timeline.find((e) => e.kind === 'succeeded')?.data?.owner, newHolder);
  assert.notEqual(stale!.path, done.output!.path, 'the two attempts wrote different files');
  assert.equal(await readFile(artifacts.toLocal(done.output!.path), 'utf8'), theirs, "the new holder's output is intact");
  assert.equal(existsSync(artifacts.toLocal(stale!.path)), false, "the stale worker's file is gone");
});
