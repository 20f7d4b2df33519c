// Workflow templates: the shipped Wan2.2 templates, typed substitution, leaving image nodes out, and validation
// errors that name the file, the node and the placeholder. Also the backend config's validation.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ComfyUiBackend } from '../../src/adapters/comfyui/comfyui-backend.js';
import { SHIPPED_TEMPLATES_DIR, parseComfyUiConfig } from '../../src/adapters/comfyui/comfyui-config.js';
import { loadWorkflowTemplate, parseWorkflowTemplate, renderWorkflow, type WorkflowTemplate } from '../../src/adapters/comfyui/workflow-template.js';
import { DEFAULT_MODELS, type ModelDescriptor } from '../../src/core/catalog.js';
import { ValidationError } from '../../src/core/validation.js';
import { ManualClock, tempDir } from './helpers.js';

const model = (id: string): ModelDescriptor => DEFAULT_MODELS.find((m) => m.id === id) as ModelDescriptor;
const shipped = (id: string): Promise<WorkflowTemplate> => loadWorkflowTemplate(join(SHIPPED_TEMPLATES_DIR, `${id}.json`), model(id));
const values = { prompt: 'a fox', width: 832, height: 480, frames: 33, steps: 30, seed: 7 };

/** A minimal valid t2v template; `change` edits it before it is checked. */
function t2vTemplate(change: (nodes: Record<string, { class_type: string; inputs: Record<string, unknown> }>) => void = () => undefined): string {
  const nodes = {
    '1': { class_type: 'UNETLoader', inputs: { unet_name: 'wan.safetensors', weight_dtype: 'default' } },
    '2': { class_type: 'CLIPTextEncode', inputs: { text: '{{prompt}}', clip: ['1', 0] } },
    '3': { class_type: 'EmptyHunyuanLatentVideo', inputs: { width: '{{width}}', height: '{{height}}', length: '{{frames}}', batch_size: 1 } },
    '4': { class_type: 'KSampler', inputs: { seed: '{{seed}}', steps: '{{steps}}', model: ['1', 0], positive: ['2', 0], latent_image: ['3', 0] } },
    '5': { class_type: 'SaveWEBM', inputs: { filename_prefix: 'understudy/{{seed}}', images: ['4', 0] } },
  };
  change(nodes);
  return JSON.stringify(nodes);
}

function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    return error;
  }
  throw new Error('expected a ValidationError');
}

test('the shipped Wan2.2 templates load: loader files, placeholders, image nodes', async () => {
  const t2v = await shipped('t2v-A14B');
  assert.deepEqual(
    t2v.modelFiles.map((f) => `${f.folders.join('|')}/${f.name}`).sort(),
    [
      'diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors',
      'diffusion_models/wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors',
      'text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors',
      'vae/wan_2.1_vae.safetensors',
    ],
  );
  assert.deepEqual(t2v.imageNodeIds, []);
  assert.ok(t2v.placeholders.has('switch_step'));
  const classes = new Set(Object.values(t2v.workflow).map((node) => node.class_type));
  for (const name of ['UNETLoader', 'CLIPLoader', 'VAELoader', 'ModelSamplingSD3', 'EmptyHunyuanLatentVideo', 'KSamplerAdvanced', 'CreateVideo', 'SaveVideo']) {
    assert.ok(classes.has(name), name);
  }

  const i2v = await shipped('i2v-A14B');
  assert.deepEqual(i2v.imageNodeIds, ['62']);
  assert.ok(Object.values(i2v.workflow).some((node) => node.class_type === 'WanImageToVideo'));

  const ti2v = await shipped('ti2v-5B');
  assert.deepEqual(ti2v.imageNodeIds, ['56']);
  assert.deepEqual(
    ti2v.modelFiles.map((f) => f.name).sort(),
    ['umt5_xxl_fp8_e4m3fn_scaled.safetensors', 'wan2.2_ti2v_5B_fp16.safetensors', 'wan2.2_vae.safetensors'],
  );
});

test('rendering: whole-value placeholders keep their type, embedded ones are written into the string', () => {
  const template = parseWorkflowTemplate(t2vTemplate(), 'inline.json', model('t2v-A14B'));
  const workflow = renderWorkflow(template, values);
  assert.deepEqual(workflow['3']?.inputs, { width: 832, height: 480, length: 33, batch_size: 1 });
  assert.equal(workflow['4']?.inputs.seed, 7);
  assert.equal(workflow['4']?.inputs.steps, 30);
  assert.equal(workflow['2']?.inputs.text, 'a fox');
  assert.equal(workflow['5']?.inputs.filename_prefix, 'understudy/7');
  assert.deepEqual(workflow['4']?.inputs.model, ['1', 0]);
  assert.equal(template.workflow['3']?.inputs.width, '{{width}}', 'the template itself is unchanged');
});

test('rendering: switch_step is half the steps rounded down; the negative prompt falls back to the template default', async () => {
  const t2v = await shipped('t2v-A14B');
  const odd = renderWorkflow(t2v, { ...values, steps: 25, negative_prompt: 'blurry' });
  assert.equal(odd['57']?.inputs.end_at_step, 12);
  assert.equal(odd['58']?.inputs.start_at_step, 12);
  assert.equal(odd['7']?.inputs.text, 'blurry');
  assert.match(String(renderWorkflow(t2v, values)['7']?.inputs.text), /^色调艳丽/);
});

test('rendering without an image leaves out the image nodes and the inputs linked to them', async () => {
  const ti2v = await shipped('ti2v-5B');
  const withImage = renderWorkflow(ti2v, { ...values, image: 'upload.png' });
  assert.equal(withImage['56']?.inputs.image, 'upload.png');
  assert.deepEqual(withImage['55']?.inputs.start_image, ['56', 0]);
  const without = renderWorkflow(ti2v, values);
  assert.equal(without['56'], undefined);
  assert.equal('start_image' in (without['55']?.inputs ?? {}), false);
  assert.deepEqual(without['55']?.inputs.vae, ['39', 0]);
});

test('an unknown placeholder is reported with the file, the node, the input and the allowed names', () => {
  const error = validationError(() =>
    parseWorkflowTemplate(
      t2vTemplate((n) => ((n['2'] as { inputs: Record<string, unknown> }).inputs.text = 'photo of {{promt}}')),
      'templates/t2v-A14B.json',
      model('t2v-A14B'),
    ),
  );
  assert.equal(error.subject, 'ComfyUI workflow template templates/t2v-A14B.json for model t2v-A14B');
  assert.equal(error.issues[0]?.field, '2.inputs.text');
  assert.match(error.message, /^Invalid ComfyUI workflow template templates\/t2v-A14B\.json for model t2v-A14B: 2\.inputs\.text: node 2 \(CLIPTextEncode\) input "text" uses an unknown placeholder \{\{promt\}\}; expected one of \{\{prompt\}\}, \{\{negative_prompt\}\}, \{\{image\}\}/);
  assert.match(error.message, /\(received "photo of \{\{promt\}\}"\)/);
  // Without {{prompt}} anywhere, the missing required placeholder is reported too.
  assert.match(error.message, /expected a node input using \{\{prompt\}\} \(model t2v-A14B takes a text prompt\)/);
});

test('required placeholders, image rules, links and structure are checked', () => {
  const t2v = model('t2v-A14B');
  const noSteps = validationError(() => parseWorkflowTemplate(t2vTemplate((n) => ((n['4'] as { inputs: Record<string, unknown> }).inputs.steps = 20)), 'a.json', t2v));
  assert.match(noSteps.message, /expected a node input using \{\{steps\}\} \(Understudy sets it for every job\)/);

  const imageOnText = validationError(() =>
    parseWorkflowTemplate(t2vTemplate((n) => (n['9'] = { class_type: 'LoadImage', inputs: { image: '{{image}}' } })), 'b.json', t2v),
  );
  assert.match(imageOnText.message, /node 9 \(LoadImage\) input "image" uses \{\{image\}\}, but model t2v-A14B takes no input image/);

  const i2vWithoutImage = validationError(() => parseWorkflowTemplate(t2vTemplate(), 'c.json', model('i2v-A14B')));
  assert.match(i2vWithoutImage.message, /expected a node input using \{\{image\}\} \(model i2v-A14B takes an input image\)/);

  const embeddedImage = validationError(() =>
    parseWorkflowTemplate(t2vTemplate((n) => (n['9'] = { class_type: 'LoadImage', inputs: { image: 'in/{{image}}' } })), 'd.json', model('ti2v-5B')),
  );
  assert.match(embeddedImage.message, /9\.inputs\.image: node 9 \(LoadImage\) input "image": \{\{image\}\} must be the whole value/);

  const dangling = validationError(() => parseWorkflowTemplate(t2vTemplate((n) => ((n['4'] as { inputs: Record<string, unknown> }).inputs.model = ['99', 0])), 'e.json', t2v));
  assert.match(dangling.message, /4\.inputs\.model: node 4 \(KSampler\) input "model" links to node 99, which is not in the workflow/);

  const unterminated = validationError(() => parseWorkflowTemplate(t2vTemplate((n) => ((n['2'] as { inputs: Record<string, unknown> }).inputs.text = '{{prompt}} and {{seed')), 'f.json', t2v));
  assert.match(unterminated.message, /node 2 \(CLIPTextEncode\) input "text" has an unterminated placeholder/);

  assert.match(validationError(() => parseWorkflowTemplate('{"1": ', 'g.json', t2v)).message, /^Invalid ComfyUI workflow template g\.json for model t2v-A14B: \(root\): not valid JSON/);
  assert.match(validationError(() => parseWorkflowTemplate('[]', 'h.json', t2v)).message, /expected an API-format workflow/);
  assert.match(validationError(() => parseWorkflowTemplate(t2vTemplate((n) => (n['9'] = { inputs: {} } as never)), 'i.json', t2v)).message, /9\.class_type: expected the node class name/);
  const options = validationError(() => parseWorkflowTemplate(JSON.stringify({ ...JSON.parse(t2vTemplate()), _understudy: { negative: 'x' } }), 'j.json', t2v));
  assert.match(options.message, /_understudy\.negative: unknown option; expected one of defaultNegativePrompt, defaults, sizeMultiple, frameMultiple/);
});

test('a template file that cannot be read says which one', async () => {
  await assert.rejects(loadWorkflowTemplate('/nowhere/t2v-A14B.json', model('t2v-A14B')), /Invalid ComfyUI workflow template \/nowhere\/t2v-A14B\.json for model t2v-A14B: \(root\): cannot be read: ENOENT/);
});

test('the backend loads the templates of its models and refuses a bad one, naming the file', async () => {
  const dir = await tempDir('templates');
  const clock = new ManualClock();
  await assert.rejects(ComfyUiBackend.create({ templatesDir: dir }, { clock }), /templatesDir: expected a workflow template <model id>\.json for at least one of t2v-A14B, i2v-A14B, ti2v-5B/);

  await writeFile(join(dir, 't2v-A14B.json'), t2vTemplate());
  const backend = await ComfyUiBackend.create({ templatesDir: dir }, { clock });
  assert.deepEqual(backend.servedModels, ['t2v-A14B'], 'models without a template file are not served');

  await assert.rejects(ComfyUiBackend.create({ templatesDir: dir, models: ['ti2v-5B'] }, { clock }), /ti2v-5B\.json for model ti2v-5B: \(root\): cannot be read/);
  await writeFile(join(dir, 'broken.json'), t2vTemplate((n) => delete n['3']));
  await assert.rejects(
    ComfyUiBackend.create({ templatesDir: dir, templates: { 't2v-A14B': 'broken.json' } }, { clock }),
    (error: unknown) => error instanceof ValidationError && error.subject.includes('broken.json') && /4\.inputs\.latent_image: node 4 \(KSampler\) input "latent_image" links to node 3/.test(error.message),
  );
});

test('the backend config names each bad field, what is allowed and the value received', async () => {
  assert.throws(
    () => parseComfyUiConfig({ url: 'ftp://gpu-box:8188', slots: 0, launch: { args: [] } }),
    (error: unknown) =>
      error instanceof ValidationError &&
      /url: expected an http or https URL \(received "ftp:\/\/gpu-box:8188"\)/.test(error.message) &&
      /slots: Too small: expected number to be >=1 \(received 0\)/.test(error.message) &&
      /launch\.command: Invalid input: expected string, received undefined/.test(error.message),
  );
  const defaults = parseComfyUiConfig({});
  assert.equal(defaults.url, 'http://127.0.0.1:8188');
  assert.equal(defaults.slots, 1);
  assert.equal(defaults.timeouts.queueMs, 1_800_000);
  assert.equal(parseComfyUiConfig({ url: 'http://gpu-box:8188/' }).url, 'http://gpu-box:8188');
  await assert.rejects(ComfyUiBackend.create({ models: ['wan-9000'] }, { clock: new ManualClock() }), /models\[0\]: expected a catalog model id, one of t2v-A14B, i2v-A14B, ti2v-5B \(received "wan-9000"\)/);
});
