// The ComfyUI backend against a fake ComfyUI speaking the real protocol: a generation from submission to output,
// errors and how they classify, a dropped socket, a slow queue, cancellation, /free, /system_stats and availability.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ComfyUiExecutionError, ComfyUiHttpError } from '../../src/adapters/comfyui/comfyui-errors.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { isAbortError } from '../../src/runtime/backend.js';
import { CUDA_OOM_TEXT, FAKE_VIDEO_BYTES, OOM_TIPS, WAN22_MODEL_FILES } from './fake-comfyui.js';
import { LIMIT, filesIn, rejection, request, setup, start } from './helpers.js';

const GIB = 1024 ** 3;

test('a generation submits the rendered workflow, follows the WebSocket to the end and writes the output atomically', LIMIT, async (t) => {
  const { fake, backend, events, outputDir } = await setup(t);
  const job = request(outputDir, { negativePrompt: undefined });
  const { promise, progress } = start(backend, job);
  const output = await promise;

  assert.equal(output.path, join(outputDir, `${job.jobId}.mp4`));
  assert.equal(output.mediaType, 'video/mp4');
  assert.equal(output.isPreview, false);
  assert.deepEqual(await readFile(output.path), FAKE_VIDEO_BYTES);
  assert.equal(output.sizeBytes, FAKE_VIDEO_BYTES.length);
  assert.deepEqual(await filesIn(outputDir), [`${job.jobId}.mp4`], 'no temporary file is left behind');

  // The workflow ComfyUI received: placeholders replaced, numbers as numbers, the A14B experts split at half the steps.
  const [prompt] = fake.prompts;
  assert.ok(prompt);
  const nodes = prompt.workflow;
  assert.deepEqual(nodes['59']?.inputs, { width: 1280, height: 704, length: 81, batch_size: 1 });
  assert.equal(nodes['6']?.inputs.text, job.prompt);
  assert.match(String(nodes['7']?.inputs.text), /^色调艳丽/, 'the template default negative prompt');
  assert.equal(nodes['57']?.inputs.noise_seed, 42);
  assert.equal(nodes['57']?.inputs.steps, 20);
  assert.equal(nodes['57']?.inputs.end_at_step, 10);
  assert.equal(nodes['58']?.inputs.start_at_step, 10);
  assert.equal(JSON.stringify(nodes).includes('{{'), false);
  assert.equal('_understudy' in nodes, false);

  // One client id for the socket and the prompt, and ComfyUI's message order for it.
  const body = fake.requestsTo('POST', '/prompt')[0]?.body as { client_id: string };
  assert.deepEqual(fake.connections, [body.client_id]);
  const types = fake.messageTypes(body.client_id);
  // status on connect, when the prompt is queued and when the worker takes it; then the execution messages.
  assert.deepEqual(types.slice(0, 5), ['status', 'status', 'status', 'execution_start', 'execution_cached']);
  assert.deepEqual(types.slice(-3), ['execution_success', 'status', 'executing']);
  assert.ok(types.indexOf('progress') > types.indexOf('executing'));
  assert.ok(types.includes('executed'));

  // Progress: never decreasing, sampler steps reported, 1 at the end.
  const fractions = progress.map(([fraction]) => fraction);
  assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b));
  assert.equal(fractions.at(-1), 1);
  assert.ok(progress.some(([, message]) => message === 'sampling step 2/3 (node 57 KSamplerAdvanced)'), JSON.stringify(progress));
  assert.ok(progress.some(([fraction, message]) => message.startsWith('sampling step 3/3 (node 58') && fraction === 0.9));

  assert.deepEqual(await backend.loadedModels(), ['t2v-A14B']);
  assert.ok(events.some((e) => e.type === 'model_loaded' && e.modelId === 't2v-A14B' && e.backendId === 'comfy-test'));
});

test('a prompt also ends from /history after execution_success, for servers that leave out the final executing message', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, {}, { sendsExecutingNull: false });
  const output = await start(backend, request(outputDir)).promise;
  assert.deepEqual(await readFile(output.path), FAKE_VIDEO_BYTES);
  assert.equal(fake.messageTypes(fake.prompts[0]?.clientId ?? '').at(-1), 'status');
  assert.ok(fake.requestsTo('GET', `/history/${fake.prompts[0]?.promptId}`).length >= 1);
});

test('ti2v-5B without an image leaves the image nodes out; with one it is uploaded through /upload/image', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  await backend.generate(request(outputDir, { modelId: 'ti2v-5B', settings: { numFrames: 121 } }), { signal: new AbortController().signal, onProgress: () => undefined });
  const textOnly = fake.prompts[0]?.workflow;
  assert.equal(textOnly?.['56'], undefined, 'LoadImage is left out');
  assert.deepEqual(Object.keys(textOnly?.['55']?.inputs ?? {}).sort(), ['batch_size', 'height', 'length', 'vae', 'width']);
  assert.equal(fake.uploads.length, 0);

  const image = { bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mediaType: 'image/png' };
  await backend.generate(request(outputDir, { modelId: 'ti2v-5B', image }), { signal: new AbortController().signal, onProgress: () => undefined });
  const [upload] = fake.uploads;
  assert.ok(upload);
  assert.match(upload.name, /^understudy-job-\d+-[0-9a-f]{8}\.png$/);
  assert.deepEqual([...upload.bytes], [...image.bytes]);
  assert.equal(upload.type, 'input');
  const withImage = fake.prompts[1]?.workflow;
  assert.equal(withImage?.['56']?.inputs.image, upload.name);
  assert.deepEqual(withImage?.['55']?.inputs.start_image, ['56', 0]);
});

test('an image model without an image, or a text-only model with one, is refused before ComfyUI is asked', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  const missing = await rejection(start(backend, request(outputDir, { modelId: 'i2v-A14B' })).promise);
  assert.match(missing.message, /i2v-A14B needs an input image/);
  const extra = await rejection(start(backend, request(outputDir, { image: { bytes: new Uint8Array([1]) } })).promise);
  assert.match(extra.message, /t2v-A14B takes no input image/);
  assert.equal(fake.prompts.length, 0);
});

test('an out-of-memory execution_error fails the job with the node and exception; it classifies as vram_exhaustion', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  fake.script({ kind: 'oom' });
  const error = await rejection(start(backend, request(outputDir)).promise);
  assert.ok(error instanceof ComfyUiExecutionError);
  assert.equal(error.exception_type, 'torch.OutOfMemoryError');
  assert.equal(error.node_id, '57');
  assert.equal(error.node_type, 'KSamplerAdvanced');
  assert.match(error.message, /failed in node 57 \(KSamplerAdvanced\): torch\.OutOfMemoryError: Allocation on device 0 would exceed allowed memory/);
  const classification = classifyFailure(error);
  assert.equal(classification.failureType, 'vram_exhaustion');
  assert.equal(classification.evidence.rule, 'gpu_out_of_memory');
  assert.equal(classification.message, `torch.OutOfMemoryError: ${CUDA_OOM_TEXT}\n${OOM_TIPS}`);

  // The payload ComfyUI sent classifies the same way.
  const clientId = (fake.requestsTo('POST', '/prompt')[0]?.body as { client_id: string }).client_id;
  const payload = fake.sent.get(clientId)?.find((m) => m.type === 'execution_error');
  assert.equal(classifyFailure(payload).failureType, 'vram_exhaustion');
  assert.deepEqual(await filesIn(outputDir), [], 'nothing is written');
});

test('a workflow naming a model file ComfyUI lacks is rejected (HTTP 400) and classifies as model_loading_failure', LIMIT, async (t) => {
  const models = { ...WAN22_MODEL_FILES, diffusion_models: ['wan2.2_ti2v_5B_fp16.safetensors'] };
  const { backend, outputDir } = await setup(t, {}, { models });
  const error = await rejection(start(backend, request(outputDir)).promise);
  assert.ok(error instanceof ComfyUiHttpError);
  assert.equal(error.status, 400);
  assert.match(error.message, /POST \/prompt failed with HTTP 400 Bad Request: Prompt outputs failed validation; node 37 \(UNETLoader\): Value not in list: unet_name: 'wan2\.2_t2v_high_noise_14B_fp8_scaled\.safetensors' not in/);
  const classification = classifyFailure(error);
  assert.equal(classification.failureType, 'model_loading_failure');
  assert.equal(classification.evidence.rule, 'model_not_in_list');

  const statuses = new Map((await backend.installedModels()).map((s) => [s.modelId, s]));
  assert.equal(statuses.get('ti2v-5B')?.status, 'available');
  assert.equal(statuses.get('t2v-A14B')?.status, 'missing');
  assert.equal(
    statuses.get('t2v-A14B')?.detail,
    "not in ComfyUI's model folders: diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors, diffusion_models/wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors",
  );
});

test('availability: files from GET /models/{folder}; a folder the server lacks and an unreachable server are said so', LIMIT, async (t) => {
  const { fake, backend } = await setup(t, {}, { models: { ...WAN22_MODEL_FILES, vae: undefined as unknown as string[] } });
  const statuses = await backend.installedModels();
  assert.deepEqual(
    statuses.map((s) => [s.modelId, s.status]),
    [
      ['t2v-A14B', 'missing'],
      ['i2v-A14B', 'missing'],
      ['ti2v-5B', 'missing'],
    ],
  );
  assert.match(statuses[2]?.detail ?? '', /vae\/wan2\.2_vae\.safetensors \(this ComfyUI has no "vae" folder\)/);
  assert.ok(fake.requestsTo('GET', '/models/vae').length > 0);

  await fake.close();
  const unreachable = await backend.installedModels();
  assert.deepEqual(new Set(unreachable.map((s) => s.status)), new Set(['unknown']));
  assert.match(unreachable[0]?.detail ?? '', /could not list its model files: .*connection failed/);
});

test('an unreachable server fails jobs, health and VRAM as a network error', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  await fake.close();
  const error = await rejection(start(backend, request(outputDir)).promise);
  assert.equal(classifyFailure(error).failureType, 'network_error');
  assert.equal((error as { code?: string }).code, 'ECONNREFUSED');
  assert.equal(await backend.vram(), null);
  await assert.rejects(backend.readVram(), /GET \/system_stats: connection failed/);
  const health = await backend.checkHealth(new AbortController().signal);
  assert.equal(health.healthy, false);
  assert.match(health.reason ?? '', /ECONNREFUSED/);
});

test('a WebSocket dropped mid-job is reopened with the same client id and the job completes', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  fake.script({ kind: 'drop_socket' });
  const { promise, progress } = start(backend, request(outputDir));
  const output = await promise;
  assert.deepEqual(await readFile(output.path), FAKE_VIDEO_BYTES);
  const clientId = (fake.requestsTo('POST', '/prompt')[0]?.body as { client_id: string }).client_id;
  assert.deepEqual(fake.connections, [clientId, clientId]);
  assert.ok(progress.some(([, message]) => message === 'reconnected to ComfyUI'));
  assert.equal(progress.at(-1)?.[0], 1);
});

test('a server that goes away mid-job fails it as a network error once reconnection fails', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, { reconnect: { attempts: 1 } });
  fake.script({ kind: 'hold' });
  const { promise } = start(backend, request(outputDir));
  await fake.waitFor(() => fake.heldAtSampler, 'the prompt to reach its first sampler');
  await fake.close();
  const error = await rejection(promise);
  assert.match(error.message, /the WebSocket dropped while prompt .* was running and 1 reconnection tries failed/);
  assert.equal(classifyFailure(error).failureType, 'network_error');
});

test('cancelling a running prompt interrupts it by prompt_id, removes it from the queue and writes nothing', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  fake.script({ kind: 'hold' });
  const controller = new AbortController();
  const { promise } = start(backend, request(outputDir), controller.signal);
  await fake.waitFor(() => fake.heldAtSampler, 'the prompt to reach its first sampler');
  controller.abort();
  const error = await rejection(promise);
  assert.ok(isAbortError(error));
  const promptId = fake.prompts[0]?.promptId;
  assert.deepEqual(fake.requestsTo('POST', '/queue').map((r) => r.body), [{ delete: [promptId] }]);
  assert.deepEqual(fake.requestsTo('POST', '/interrupt').map((r) => r.body), [{ prompt_id: promptId }]);
  await fake.waitFor(() => fake.runningPromptId === undefined, 'the prompt to stop');
  assert.ok(fake.messageTypes(fake.prompts[0]?.clientId ?? '').includes('execution_interrupted'));
  assert.deepEqual(await filesIn(outputDir), []);
});

test('a slow queue: the job waits behind another client, says so, and cancelling it only takes it off the queue', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  const foreign = fake.enqueueForeign();
  const controller = new AbortController();
  const { promise, progress, state, reported } = start(backend, request(outputDir), controller.signal);
  await reported('queued on ComfyUI (2 prompt(s) in its queue)');
  assert.equal(state.settled, false);
  assert.equal(fake.isPending(fake.prompts[0]?.promptId ?? ''), true);
  assert.ok(progress.every(([fraction]) => fraction === 0));

  controller.abort();
  assert.ok(isAbortError(await rejection(promise)));
  const promptId = fake.prompts[0]?.promptId;
  assert.deepEqual(fake.requestsTo('POST', '/queue').map((r) => r.body), [{ delete: [promptId] }]);
  assert.deepEqual(fake.requestsTo('POST', '/interrupt'), [], "another client's running prompt is not interrupted");
  assert.equal(fake.runningPromptId, foreign);
  assert.equal(fake.isPending(promptId ?? ''), false);
  fake.release();
});

test('a prompt still queued after timeouts.queueMs is removed and fails as a network error', LIMIT, async (t) => {
  const { fake, clock, backend, outputDir } = await setup(t, { timeouts: { queueMs: 60_000 } });
  fake.enqueueForeign();
  const { promise, state, reported } = start(backend, request(outputDir));
  await reported('queued on ComfyUI');
  await clock.advance(59_000);
  assert.equal(state.settled, false);
  await clock.advance(1_000);
  const error = await rejection(promise);
  assert.match(error.message, /waited more than 60 s in the queue without starting; it was removed from the queue/);
  assert.equal(classifyFailure(error).failureType, 'network_error');
  assert.deepEqual(fake.requestsTo('POST', '/queue').map((r) => r.body), [{ delete: [fake.prompts[0]?.promptId] }]);
  fake.release();
});

test('recovery on a ComfyUI run by someone else: /free for memory and models; relaunch flags say why they cannot be applied', LIMIT, async (t) => {
  const { fake, backend, events, outputDir } = await setup(t);
  await backend.generate(request(outputDir), { signal: new AbortController().signal, onProgress: () => undefined });
  const signal = new AbortController().signal;

  await backend.freeGpuMemory(signal);
  await backend.unloadModels(signal);
  await backend.restartPipeline(signal);
  assert.deepEqual(
    fake.requestsTo('POST', '/free').map((r) => r.body),
    [
      { unload_models: false, free_memory: true },
      { unload_models: true, free_memory: false },
      { unload_models: true, free_memory: true },
    ],
  );
  assert.deepEqual(await backend.loadedModels(), []);
  assert.ok(events.some((e) => e.type === 'model_unloaded' && e.modelId === 't2v-A14B' && e.reason === 'requested'));

  await assert.rejects(backend.setOffloadMode('lowvram', signal), /cannot switch ComfyUI to lowvram offload: ComfyUI chooses its VRAM mode at launch \(--lowvram\) and .* is not launched by Understudy/);
  await assert.rejects(backend.applyVramOptimization(signal), /cannot apply VRAM optimisations: ComfyUI takes them as launch flags/);
  await assert.rejects(backend.setOffloadMode('sideways' as never, signal), /Invalid offload mode/);

  await fake.close();
  await assert.rejects(backend.restartPipeline(signal), /cannot restart the pipeline: .*connection failed.*Understudy does not launch it, so it cannot restart it either/);
});

test('VRAM and health come from GET /system_stats', LIMIT, async (t) => {
  const { fake, backend, events } = await setup(t, { id: 'gpu-0' }, { vram: { total: 24 * GIB, free: 6 * GIB } });
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 18 });
  assert.deepEqual(await backend.readVram(), [{ device: 'gpu-0: cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync', totalBytes: 24 * GIB, freeBytes: 6 * GIB }]);
  assert.deepEqual(await backend.checkHealth(new AbortController().signal), { healthy: true });
  fake.vram.free = 12 * GIB;
  await backend.vram();
  assert.deepEqual(
    events.filter((e) => e.type === 'vram_changed').map((e) => (e.type === 'vram_changed' ? e.vram.usedGb : -1)),
    [18, 12],
  );
});

test('two ComfyUI servers are two backends with their own ids, slots, models, health and /free', LIMIT, async (t) => {
  const a = await setup(t, { id: 'gpu-0', slots: 1, models: ['t2v-A14B'] });
  const b = await setup(t, { id: 'gpu-1', slots: 2, models: ['ti2v-5B'] });
  assert.deepEqual([a.backend.id, a.backend.slots, b.backend.id, b.backend.slots], ['gpu-0', 1, 'gpu-1', 2]);
  assert.deepEqual((await a.backend.installedModels()).map((s) => s.modelId), ['t2v-A14B']);
  assert.deepEqual((await b.backend.installedModels()).map((s) => s.modelId), ['ti2v-5B']);

  const never = new AbortController().signal;
  await Promise.all([
    a.backend.generate(request(a.outputDir), { signal: never, onProgress: () => undefined }),
    b.backend.generate(request(b.outputDir, { modelId: 'ti2v-5B' }), { signal: never, onProgress: () => undefined }),
  ]);
  assert.deepEqual(a.fake.prompts.map((p) => p.workflow['37']?.inputs.unet_name), ['wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors']);
  assert.deepEqual(b.fake.prompts.map((p) => p.workflow['37']?.inputs.unet_name), ['wan2.2_ti2v_5B_fp16.safetensors']);
  await assert.rejects(a.backend.generate(request(a.outputDir, { modelId: 'ti2v-5B' }), { signal: never, onProgress: () => undefined }), /gpu-0 has no ComfyUI workflow template for model "ti2v-5B" \(it runs t2v-A14B\)/);

  await a.backend.freeGpuMemory(never);
  assert.equal(a.fake.requestsTo('POST', '/free').length, 1);
  assert.equal(b.fake.requestsTo('POST', '/free').length, 0);

  await b.fake.close();
  assert.equal((await b.backend.checkHealth(never)).healthy, false);
  assert.equal((await a.backend.checkHealth(never)).healthy, true);
  assert.deepEqual((await b.backend.installedModels()).map((s) => s.status), ['unknown']);
  assert.deepEqual((await a.backend.installedModels()).map((s) => s.status), ['available']);
});
