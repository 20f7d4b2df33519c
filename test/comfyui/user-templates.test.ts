// Templates as users write them: a directory of their own (a 4-step lightx2v LoRA workflow with its own defaults),
// sizes and frames rounded to what the nodes make, GGUF loaders in availability, and Windows names compared raw.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SHIPPED_TEMPLATES_DIR } from '../../src/adapters/comfyui/comfyui-config.js';
import { WAN22_MODEL_FILES } from './fake-comfyui.js';
import { LIMIT, request, setup, start, tempDir } from './helpers.js';

type Nodes = Record<string, { class_type: string; inputs: Record<string, unknown>; _meta?: unknown }>;

/** The shipped t2v-A14B template, changed by `edit`, written as t2v-A14B.json into a fresh directory. */
async function userTemplate(edit: (nodes: Nodes) => void): Promise<string> {
  const nodes = JSON.parse(await readFile(join(SHIPPED_TEMPLATES_DIR, 't2v-A14B.json'), 'utf8')) as Nodes;
  edit(nodes);
  const dir = await tempDir('templates');
  await writeFile(join(dir, 't2v-A14B.json'), JSON.stringify(nodes));
  return dir;
}

/** The official Wan2.2 14B workflows' lightx2v variant: a LoRA after each expert, 4 steps, cfg 1, 640x640x81. */
function lightx2v(nodes: Nodes): void {
  (nodes as Record<string, unknown>)._understudy = { defaults: { steps: 4, frames: 81 } };
  nodes['101'] = { class_type: 'LoraLoaderModelOnly', inputs: { lora_name: 'wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors', strength_model: 1, model: ['37', 0] } };
  nodes['102'] = { class_type: 'LoraLoaderModelOnly', inputs: { lora_name: 'wan2.2_t2v_lightx2v_4steps_lora_v1.1_low_noise.safetensors', strength_model: 1, model: ['56', 0] } };
  (nodes['54'] as { inputs: Record<string, unknown> }).inputs.model = ['101', 0];
  (nodes['55'] as { inputs: Record<string, unknown> }).inputs.model = ['102', 0];
  for (const id of ['57', '58']) (nodes[id] as { inputs: Record<string, unknown> }).inputs.cfg = 1;
}

const LORAS = ['wan2.2_t2v_lightx2v_4steps_lora_v1.1_high_noise.safetensors', 'wan2.2_t2v_lightx2v_4steps_lora_v1.1_low_noise.safetensors'];

test("a user template directory's 4-step LoRA template gets its own default steps and frames, not 25", LIMIT, async (t) => {
  const userTemplatesDir = await userTemplate(lightx2v);
  const { fake, backend, outputDir } = await setup(t, { userTemplatesDir }, { models: { ...WAN22_MODEL_FILES, loras: LORAS } });
  assert.deepEqual((await backend.installedModels()).map((s) => [s.modelId, s.status]), [['t2v-A14B', 'available'], ['i2v-A14B', 'available'], ['ti2v-5B', 'available']]);
  await start(backend, request(outputDir, { settings: { steps: undefined, numFrames: undefined, resolution: '640x640' } })).promise;
  const sent = fake.prompts[0]?.workflow;
  assert.equal(sent?.['101']?.class_type, 'LoraLoaderModelOnly', 'the user template was used');
  assert.equal(sent?.['57']?.inputs.steps, 4);
  assert.equal(sent?.['57']?.inputs.end_at_step, 2);
  assert.equal(sent?.['59']?.inputs.length, 81);
  // A request's own steps still win.
  await start(backend, request(outputDir, { settings: { steps: 8 } })).promise;
  assert.equal(fake.prompts[1]?.workflow['57']?.inputs.steps, 8);
});

test("the LoRA files a template loads are part of the model's availability", LIMIT, async (t) => {
  const userTemplatesDir = await userTemplate(lightx2v);
  const { backend } = await setup(t, { userTemplatesDir, models: ['t2v-A14B'] });
  const [status] = await backend.installedModels();
  assert.equal(status?.status, 'missing');
  assert.match(status?.detail ?? '', /loras\/wan2\.2_t2v_lightx2v_4steps_lora_v1\.1_high_noise\.safetensors/);
});

test("width, height and frames are rounded down to what the template's nodes make, and the real size is said", LIMIT, async (t) => {
  const { fake, backend, outputDir } = await setup(t);
  const { promise, progress } = start(backend, request(outputDir, { modelId: 'ti2v-5B', settings: { resolution: '1920x1080', numFrames: 16 } }));
  await promise;
  assert.deepEqual(fake.prompts[0]?.workflow['55']?.inputs, { width: 1920, height: 1056, length: 13, batch_size: 1, vae: ['39', 0] });
  assert.ok(
    progress.some(([, m]) => m === "ComfyUI makes 1920x1056, 13 frames of the 1920x1080, 16 frames asked for (the template's nodes take sizes in multiples of 32 and 4k+1 frames)"),
    JSON.stringify(progress),
  );
  await start(backend, request(outputDir, { settings: { resolution: '1000x700', numFrames: 81 } })).promise;
  assert.deepEqual(fake.prompts[1]?.workflow['59']?.inputs, { width: 992, height: 688, length: 81, batch_size: 1 });
});

test('GGUF loaders (ComfyUI-GGUF) count in availability: their files are looked for in unet_gguf and clip_gguf', LIMIT, async (t) => {
  const userTemplatesDir = await userTemplate((nodes) => {
    nodes['37'] = { class_type: 'UnetLoaderGGUF', inputs: { unet_name: 'wan2.2_t2v_high_noise_14B_Q4_K_M.gguf' } };
    nodes['56'] = { class_type: 'UnetLoaderGGUF', inputs: { unet_name: 'wan2.2_t2v_low_noise_14B_Q4_K_M.gguf' } };
    nodes['38'] = { class_type: 'CLIPLoaderGGUF', inputs: { clip_name: 'umt5-xxl-encoder-Q5_K_M.gguf', type: 'wan' } };
  });
  const gguf = ['wan2.2_t2v_high_noise_14B_Q4_K_M.gguf', 'wan2.2_t2v_low_noise_14B_Q4_K_M.gguf'];
  const withPack = await setup(t, { userTemplatesDir, models: ['t2v-A14B'] }, { models: { ...WAN22_MODEL_FILES, unet_gguf: gguf, clip_gguf: ['umt5-xxl-encoder-Q5_K_M.gguf'] } });
  assert.equal((await withPack.backend.installedModels())[0]?.status, 'available');

  const oneMissing = await setup(t, { userTemplatesDir, models: ['t2v-A14B'] }, { models: { ...WAN22_MODEL_FILES, unet_gguf: gguf.slice(0, 1), clip_gguf: [] } });
  const [missing] = await oneMissing.backend.installedModels();
  assert.equal(missing?.status, 'missing');
  assert.equal(
    missing?.detail,
    "not in ComfyUI's model folders: text_encoders/umt5-xxl-encoder-Q5_K_M.gguf or clip_gguf/umt5-xxl-encoder-Q5_K_M.gguf, unet_gguf/wan2.2_t2v_low_noise_14B_Q4_K_M.gguf",
  );

  const withoutPack = await setup(t, { userTemplatesDir, models: ['t2v-A14B'] });
  assert.match((await withoutPack.backend.installedModels())[0]?.detail ?? '', /unet_gguf\/wan2\.2_t2v_high_noise_14B_Q4_K_M\.gguf \(this ComfyUI has no "unet_gguf" folder; is the ComfyUI-GGUF node pack installed\?\)/);
});

test('Windows names (sub\\name) are compared as ComfyUI compares them: as written', LIMIT, async (t) => {
  const windows = { ...WAN22_MODEL_FILES, diffusion_models: WAN22_MODEL_FILES.diffusion_models?.map((name) => `wan22\\${name}`) ?? [] };
  const backslash = await userTemplate((nodes) => {
    for (const id of ['37', '56']) {
      const inputs = (nodes[id] as { inputs: Record<string, unknown> }).inputs;
      inputs.unet_name = `wan22\\${String(inputs.unet_name)}`;
    }
  });
  const slash = await userTemplate((nodes) => {
    for (const id of ['37', '56']) {
      const inputs = (nodes[id] as { inputs: Record<string, unknown> }).inputs;
      inputs.unet_name = `wan22/${String(inputs.unet_name)}`;
    }
  });
  const asWritten = await setup(t, { userTemplatesDir: backslash, models: ['t2v-A14B'] }, { models: windows });
  assert.equal((await asWritten.backend.installedModels())[0]?.status, 'available');
  // validate_prompt would answer "Value not in list" for the "/" spelling on Windows: availability says missing.
  const converted = await setup(t, { userTemplatesDir: slash, models: ['t2v-A14B'] }, { models: windows });
  assert.equal((await converted.backend.installedModels())[0]?.status, 'missing');
});
