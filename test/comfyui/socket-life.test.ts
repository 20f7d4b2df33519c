// The WebSocket's life against a fake that behaves like server.py: frames sent on connect, a reconnect whose socket
// the server drops at once (its unguarded sockets.pop), and a run's outcome read from /history when frames are missed.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { ComfyUiSocketEvent } from '../../src/adapters/comfyui/comfyui-client.js';
import { ComfyUiExecutionError } from '../../src/adapters/comfyui/comfyui-errors.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { FAKE_VIDEO_BYTES } from './fake-comfyui.js';
import { LIMIT, rejection, request, setup, start } from './helpers.js';

test('frames ComfyUI sends right after the upgrade reach a listener attached after openSocket resolved', LIMIT, async (t) => {
  const { fake, backend } = await setup(t);
  const socket = await backend.client.openSocket('early-listener', new AbortController().signal);
  t.after(() => socket.close());
  await fake.waitFor(() => fake.messageTypes('early-listener').includes('status'), 'the status sent on connect');
  // Let the frame be delivered to the client before anyone listens.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const events: ComfyUiSocketEvent[] = [];
  socket.onEvent((event) => events.push(event));
  assert.equal(events[0]?.kind, 'message');
  assert.equal(events[0]?.kind === 'message' && events[0].message.type, 'status');
});

test('a reconnect the server silently drops (late close of the old socket) still ends the job, from /history after statusCheckMs', LIMIT, async (t) => {
  const { fake, clock, backend, outputDir } = await setup(t, { timeouts: { statusCheckMs: 15_000 } });
  fake.script({ kind: 'drop_socket', closeNoticedLate: true });
  const { promise, state, progress } = start(backend, request(outputDir));
  await fake.waitFor(() => fake.connections.length === 2, 'the client to reconnect');
  const promptId = fake.prompts[0]?.promptId ?? '';
  await fake.waitFor(() => fake.hasHistory(promptId), 'ComfyUI to finish the prompt');
  // ComfyUI finished, but nothing reached the new socket: the job is still waiting.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(state.settled, false);
  const historyReads = fake.requestsTo('GET', `/history/${promptId}`).length;
  await clock.advance(14_999);
  assert.equal(fake.requestsTo('GET', `/history/${promptId}`).length, historyReads, 'no check before the silence lasted statusCheckMs');
  await clock.advance(1);
  const output = await promise;
  assert.deepEqual(await readFile(output.path), FAKE_VIDEO_BYTES);
  assert.ok(progress.some(([, message]) => message === 'no message from ComfyUI for 15 s; asking /history and /queue about the prompt'));
});

test('a silent socket while the prompt still runs: checked every statusCheckMs until /history has it', LIMIT, async (t) => {
  const { fake, clock, backend, outputDir } = await setup(t, { timeouts: { statusCheckMs: 10_000 } });
  fake.script({ kind: 'drop_socket', closeNoticedLate: true, holdAfterDrop: true });
  const { promise, state, progress } = start(backend, request(outputDir));
  await fake.waitFor(() => fake.connections.length === 2 && fake.heldAtSampler, 'the client to reconnect while the prompt is held');
  const promptId = fake.prompts[0]?.promptId ?? '';
  await new Promise((resolve) => setTimeout(resolve, 50));
  const queueReads = fake.requestsTo('GET', '/queue').length;
  await clock.advance(10_000);
  await fake.waitFor(() => fake.requestsTo('GET', '/queue').length > queueReads, 'a check of /queue');
  assert.equal(state.settled, false, 'still running: the job keeps waiting');
  fake.release();
  await fake.waitFor(() => fake.hasHistory(promptId), 'ComfyUI to finish the prompt');
  await new Promise((resolve) => setTimeout(resolve, 50));
  await clock.advance(10_000);
  await promise;
  const said = progress.filter(([, message]) => message.startsWith('no message from ComfyUI for 10 s'));
  assert.equal(said.length, 1, 'the silence is reported once, however many checks it takes');
});

test('an execution_error missed on the socket fails the job with the error /history recorded, not as "no output"', LIMIT, async (t) => {
  const { fake, backend, events, outputDir } = await setup(t);
  await start(backend, request(outputDir)).promise;
  assert.deepEqual(await backend.loadedModels(), ['t2v-A14B']);
  fake.script({ kind: 'oom', frameLost: true });
  const error = await rejection(start(backend, request(outputDir)).promise);
  const clientId = fake.prompts[1]?.clientId ?? '';
  assert.equal(fake.messageTypes(clientId).includes('execution_error'), false, 'the frame never reached the client');
  assert.ok(error instanceof ComfyUiExecutionError, String(error));
  assert.equal(error.node_id, '57');
  assert.equal(classifyFailure(error).failureType, 'vram_exhaustion');
  // After an OOM ComfyUI unloads every model itself (execution.py: "Got an OOM, unloading all loaded models.").
  assert.deepEqual(await backend.loadedModels(), []);
  assert.ok(events.some((e) => e.type === 'model_unloaded' && e.modelId === 't2v-A14B'));
});

test('the executing frame ComfyUI resends on reconnect does not mark the running sampler done', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  fake.script({ kind: 'drop_socket', holdAfterDrop: true });
  const { promise, progress, reported } = start(backend, request(outputDir));
  await reported('reconnected to ComfyUI');
  await reported('running node 57 (KSamplerAdvanced)');
  const afterReconnect = progress.slice(progress.findIndex(([, message]) => message === 'reconnected to ComfyUI'));
  const resent = afterReconnect.find(([, message]) => message === 'running node 57 (KSamplerAdvanced)');
  // Step 1 of 3 of the first of two samplers: 0.9 × (1/3) / 2.
  assert.equal(resent?.[0], 0.15);
  fake.release();
  await promise;
});
