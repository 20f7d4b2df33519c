// The fake's POST /prompt validates like ComfyUI's validate_prompt, with its real error texts, and those rejections
// classify as deterministic (not retryable). Also the fake's loader cache, progress_state and /free, which the
// adapter must cope with.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ApiWorkflow } from '../../src/adapters/comfyui/workflow-template.js';
import { loadWorkflowTemplate, renderWorkflow } from '../../src/adapters/comfyui/workflow-template.js';
import { SHIPPED_TEMPLATES_DIR } from '../../src/adapters/comfyui/comfyui-config.js';
import { ComfyUiHttpError } from '../../src/adapters/comfyui/comfyui-errors.js';
import { DEFAULT_MODELS, type ModelDescriptor } from '../../src/core/catalog.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { LIMIT, rejection, request, setup, start } from './helpers.js';

type MutableWorkflow = Record<string, { class_type: string; inputs: Record<string, unknown> }>;

/** The shipped template of `modelId`, rendered for 832x480, 33 frames, 20 steps, and changed by `edit`. */
async function rendered(modelId: string, edit: (nodes: MutableWorkflow) => void = () => undefined, image?: string): Promise<ApiWorkflow> {
  const model = DEFAULT_MODELS.find((m) => m.id === modelId) as ModelDescriptor;
  const template = await loadWorkflowTemplate(join(SHIPPED_TEMPLATES_DIR, `${modelId}.json`), model);
  const nodes = structuredClone(renderWorkflow(template, { prompt: 'a fox', width: 832, height: 480, frames: 33, steps: 20, seed: 7, ...(image && { image }) })) as MutableWorkflow;
  edit(nodes);
  return nodes;
}

/** What POST /prompt answers for `workflow`. */
async function submit(backend: Awaited<ReturnType<typeof setup>>['backend'], workflow: ApiWorkflow | Record<string, unknown>): Promise<ComfyUiHttpError> {
  const error = await rejection(backend.client.submitPrompt(workflow as ApiWorkflow, 'validation-test', 'p-1', new AbortController().signal));
  assert.ok(error instanceof ComfyUiHttpError, String(error));
  assert.equal(error.status, 400);
  return error;
}

function rejected(error: ComfyUiHttpError): { error: { type: string; message: string; details: string }; node_errors: Record<string, { errors: Array<{ type: string; message: string; details: string }>; class_type: string }> } {
  return error.body as never;
}

test('a node class the server lacks (Wan22ImageToVideoLatent before 0.3.46, a node pack not installed) is rejected and not retried', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t, {}, { withoutNodes: ['Wan22ImageToVideoLatent'] });
  const error = await rejection(start(backend, request(outputDir, { modelId: 'ti2v-5B' })).promise);
  assert.ok(error instanceof ComfyUiHttpError);
  assert.deepEqual(rejected(error).error, { type: 'invalid_prompt', message: 'Cannot execute because node Wan22ImageToVideoLatent does not exist.', details: "Node ID '#55'", extra_info: {} });
  assert.match(error.message, /HTTP 400 Bad Request: Cannot execute because node Wan22ImageToVideoLatent does not exist\.: Node ID '#55'/);
  const classification = classifyFailure(error);
  assert.deepEqual([classification.failureType, classification.retryable, classification.evidence.rule], ['generation_pipeline_error', false, 'comfyui_prompt_rejected']);
  assert.equal(fake.prompts.length, 0);
});

test("validate_prompt's checks and texts: class_type, no output, required input, combo, min/max, link type, image", LIMIT, async (t) => {
  const { backend } = await setup(t);
  const leaked = rejected(await submit(backend, { ...(await rendered('t2v-A14B')), _understudy: { defaultNegativePrompt: '' } }));
  assert.deepEqual(leaked.error, { type: 'invalid_prompt', message: 'Cannot execute because a node is missing the class_type property.', details: "Node ID '#_understudy'", extra_info: {} });

  const noOutput = rejected(await submit(backend, await rendered('t2v-A14B', (n) => delete n['61'])));
  assert.equal(noOutput.error.type, 'prompt_no_outputs');

  const typo = rejected(await submit(backend, await rendered('t2v-A14B', (n) => ((n['57'] as { inputs: Record<string, unknown> }).inputs.sampler_name = 'uni-pc'))));
  assert.equal(typo.error.type, 'prompt_outputs_failed_validation');
  assert.equal(typo.error.details, '', 'the output node itself has no errors of its own: ComfyUI leaves the top-level details empty');
  assert.deepEqual(typo.node_errors['57']?.errors.map((e) => [e.type, e.message, e.details]), [['value_not_in_list', 'Value not in list', "sampler_name: 'uni-pc' not in (list of length 42)"]]);

  const dtype = rejected(await submit(backend, await rendered('t2v-A14B', (n) => ((n['37'] as { inputs: Record<string, unknown> }).inputs.weight_dtype = 'fp16'))));
  assert.equal(dtype.node_errors['37']?.errors[0]?.details, "weight_dtype: 'fp16' not in ['default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2']");

  const tooLong = rejected(await submit(backend, await rendered('t2v-A14B', (n) => ((n['59'] as { inputs: Record<string, unknown> }).inputs.length = 20000))));
  assert.deepEqual(tooLong.node_errors['59']?.errors.map((e) => [e.type, e.message, e.details]), [['value_bigger_than_max', 'Value 20000 bigger than max of 16384', 'length']]);
  const cfg = rejected(await submit(backend, await rendered('t2v-A14B', (n) => ((n['57'] as { inputs: Record<string, unknown> }).inputs.cfg = -1))));
  assert.equal(cfg.node_errors['57']?.errors[0]?.message, 'Value -1.0 smaller than min of 0.0');

  const missing = rejected(await submit(backend, await rendered('t2v-A14B', (n) => delete (n['57'] as { inputs: Record<string, unknown> }).inputs.scheduler)));
  assert.deepEqual(missing.node_errors['57']?.errors.map((e) => [e.type, e.details]), [['required_input_missing', 'scheduler']]);

  const wrongSlot = rejected(await submit(backend, await rendered('t2v-A14B', (n) => ((n['8'] as { inputs: Record<string, unknown> }).inputs.vae = ['38', 0]))));
  assert.deepEqual(wrongSlot.node_errors['8']?.errors.map((e) => [e.type, e.details]), [['return_type_mismatch', 'vae, received_type(CLIP) mismatch input_type(VAE)']]);

  const image = await submit(backend, await rendered('i2v-A14B', () => undefined, 'never-uploaded.png'));
  assert.deepEqual(rejected(image).node_errors['62']?.errors.map((e) => [e.type, e.details]), [['custom_validation_failed', 'image - Invalid image file: never-uploaded.png']]);
  for (const error of [image]) assert.equal(classifyFailure(error).retryable, false);
});

test('a model file list over 20 entries is reported as "(list of length N)" and still classifies as a missing model', LIMIT, async (t) => {
  const many = Array.from({ length: 25 }, (_, i) => `other_${i}.safetensors`);
  const { backend, outputDir } = await setup(t, {}, { models: { diffusion_models: many, text_encoders: ['umt5_xxl_fp8_e4m3fn_scaled.safetensors'], vae: ['wan_2.1_vae.safetensors'] } });
  const error = await rejection(start(backend, request(outputDir)).promise);
  assert.match(error.message, /node 37 \(UNETLoader\): Value not in list: unet_name: 'wan2\.2_t2v_high_noise_14B_fp8_scaled\.safetensors' not in \(list of length 25\)/);
  assert.deepEqual([classifyFailure(error).failureType, classifyFailure(error).evidence.rule], ['model_loading_failure', 'model_not_in_list']);
});

test('loaders cached from the previous prompt get no executing message and the job still completes', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  await start(backend, request(outputDir)).promise;
  const second = start(backend, request(outputDir, { settings: { seed: 43 } }));
  await second.promise;
  const clientId = fake.prompts[1]?.clientId ?? '';
  const sent = fake.sent.get(clientId) ?? [];
  assert.deepEqual(sent.find((m) => m.type === 'execution_cached')?.data.nodes, ['37', '38', '39', '56']);
  const executing = sent.filter((m) => m.type === 'executing').map((m) => m.data.node);
  for (const loader of ['37', '38', '39', '56']) assert.equal(executing.includes(loader), false, loader);
  assert.ok(sent.some((m) => m.type === 'executed' && m.data.node === '37' && m.data.output === null));
  assert.ok(sent.some((m) => m.type === 'progress_state'));
  assert.equal(second.progress.at(-1)?.[0], 1);
});

test("/free needs a JSON body and takes effect after the running prompt; free_memory drops ComfyUI's cache", LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  const bare = await fetch(`${fake.url}/free`, { method: 'POST' });
  assert.equal(bare.status, 500, 'server.py reads the body with request.json()');
  await start(backend, request(outputDir)).promise;
  fake.script({ kind: 'hold' });
  const held = start(backend, request(outputDir, { settings: { seed: 44 } }));
  await fake.waitFor(() => fake.heldAtSampler, 'the prompt to reach its first sampler');
  await backend.freeGpuMemory(new AbortController().signal);
  assert.deepEqual(fake.freed, [], 'not while a prompt runs');
  fake.release();
  await held.promise;
  assert.deepEqual(fake.freed, [{ unload_models: false, free_memory: true, afterPrompt: fake.prompts[1]?.promptId }]);
  await start(backend, request(outputDir, { settings: { seed: 45 } })).promise;
  const third = fake.sent.get(fake.prompts[2]?.clientId ?? '') ?? [];
  assert.deepEqual(third.find((m) => m.type === 'execution_cached')?.data.nodes, [], 'the cache was reset');
});
