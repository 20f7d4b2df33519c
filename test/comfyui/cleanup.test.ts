// What a job leaves on the ComfyUI server: its /history record is deleted (POST /history {delete}) once the outputs
// are saved, at once or after cleanup.historyRetentionMs, or kept when that is null. Files stay (ComfyUI has no
// route to delete them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LIMIT, rejection, request, setup, start } from './helpers.js';

test("a finished job's /history record is deleted once its output is saved, and a failed job's too", LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  await start(backend, request(outputDir)).promise;
  const done = fake.prompts[0]?.promptId ?? '';
  assert.deepEqual(fake.requestsTo('POST', '/history').map((r) => r.body), [{ delete: [done] }]);
  assert.equal(fake.hasHistory(done), false);
  assert.ok(fake.requestsTo('GET', '/view').length === 1, 'the output was fetched first');

  fake.script({ kind: 'oom' });
  await rejection(start(backend, request(outputDir)).promise);
  const failed = fake.prompts[1]?.promptId ?? '';
  assert.deepEqual(fake.requestsTo('POST', '/history').at(-1)?.body, { delete: [failed] });
  assert.equal(fake.hasHistory(failed), false);
});

test('cleanup.historyRetentionMs keeps the record that long on the clock; stop() deletes what still waits', LIMIT, async (t) => {
  const { fake, clock, backend, outputDir } = await setup(t, { cleanup: { historyRetentionMs: 60_000 } });
  await start(backend, request(outputDir)).promise;
  const first = fake.prompts[0]?.promptId ?? '';
  await clock.advance(59_999);
  assert.equal(fake.hasHistory(first), true);
  await clock.advance(1);
  await fake.waitFor(() => !fake.hasHistory(first), 'the record to be deleted');

  await start(backend, request(outputDir)).promise;
  const second = fake.prompts[1]?.promptId ?? '';
  assert.equal(fake.hasHistory(second), true);
  await backend.stop();
  assert.equal(fake.hasHistory(second), false);
});

test('cleanup.historyRetentionMs null keeps every record', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, { cleanup: { historyRetentionMs: null } });
  await start(backend, request(outputDir)).promise;
  assert.equal(fake.hasHistory(fake.prompts[0]?.promptId ?? ''), true);
  assert.deepEqual(fake.requestsTo('POST', '/history'), []);
});
