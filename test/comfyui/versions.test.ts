// The ComfyUI version from GET /system_stats: below 0.3.46 (no Wan2.2 nodes) a server is refused with a clear
// message; below 0.3.57 POST /interrupt stops whatever runs, so the adapter interrupts only on a fresh look at /queue.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAtLeast, parseComfyUiVersion } from '../../src/adapters/comfyui/comfyui-version.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { isAbortError } from '../../src/runtime/backend.js';
import { LIMIT, rejection, request, setup, start } from './helpers.js';

test('versions compare numerically; unreadable ones are not "at least" anything', () => {
  assert.deepEqual(parseComfyUiVersion('0.3.60'), [0, 3, 60]);
  assert.deepEqual(parseComfyUiVersion('v0.3.9-12-gabcdef'), [0, 3, 9]);
  assert.equal(isAtLeast('0.3.100', '0.3.57'), true);
  assert.equal(isAtLeast('0.3.9', '0.3.46'), false);
  assert.equal(isAtLeast('1.0.0', '0.3.46'), true);
  assert.equal(isAtLeast(undefined, '0.3.46'), false);
});

test('a ComfyUI older than 0.3.46 is refused at start, in health checks and for jobs, naming the versions', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, {}, { version: '0.3.45' });
  const refused = await rejection(backend.start());
  assert.match(refused.message, /^ComfyUI at http:\/\/127\.0\.0\.1:\d+ is version 0\.3\.45; the Wan2\.2 nodes .* need ComfyUI 0\.3\.46 or later: update ComfyUI$/);
  assert.equal(classifyFailure(refused).retryable, false);
  const health = await backend.checkHealth(new AbortController().signal);
  assert.equal(health.healthy, false);
  assert.match(health.reason ?? '', /is version 0\.3\.45; .* need ComfyUI 0\.3\.46 or later/);
  const job = await rejection(start(backend, request(outputDir)).promise);
  assert.match(job.message, /need ComfyUI 0\.3\.46 or later/);
  assert.equal(fake.requestsTo('POST', '/prompt').length, 0, 'nothing is submitted');
});

test('ComfyUI 0.3.46 and later start; an unreachable one does not fail start (health reports it)', LIMIT, async (t) => {
  const { fake, backend } = await setup(t, {}, { version: '0.3.46' });
  await backend.start();
  assert.deepEqual(await backend.checkHealth(new AbortController().signal), { healthy: true });
  await fake.close();
  await backend.start();
});

test('before 0.3.57, cancelling a prompt the socket last saw running does not interrupt the prompt that runs now', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, {}, { version: '0.3.50' });
  await backend.start();
  // The reconnected socket goes silent; ComfyUI finishes our prompt and starts someone else's.
  fake.script({ kind: 'drop_socket', closeNoticedLate: true });
  const controller = new AbortController();
  const { promise } = start(backend, request(outputDir), controller.signal);
  await fake.waitFor(() => fake.connections.length === 2, 'the client to reconnect');
  const foreign = fake.enqueueForeign();
  await fake.waitFor(() => fake.runningPromptId === foreign && fake.heldAtSampler, "the other client's prompt to run");
  controller.abort();
  assert.ok(isAbortError(await rejection(promise)));
  assert.deepEqual(fake.requestsTo('POST', '/interrupt'), [], 'an untargeted interrupt would have stopped the other prompt');
  assert.equal(fake.runningPromptId, foreign);
  fake.release();
});

test('before 0.3.57, cancelling our running prompt still interrupts it, after /queue shows it running', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, {}, { version: '0.3.50' });
  await backend.start();
  fake.script({ kind: 'hold' });
  const controller = new AbortController();
  const { promise } = start(backend, request(outputDir), controller.signal);
  await fake.waitFor(() => fake.heldAtSampler, 'the prompt to reach its first sampler');
  controller.abort();
  assert.ok(isAbortError(await rejection(promise)));
  assert.equal(fake.requestsTo('POST', '/interrupt').length, 1);
  await fake.waitFor(() => fake.runningPromptId === undefined, 'the prompt to stop');
});
