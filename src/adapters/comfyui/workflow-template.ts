/**
 * Workflow templates: ComfyUI API-format workflows ("Save (API format)": `{"<node id>": {"class_type", "inputs"}}`)
 * with named placeholders in string inputs, one template per catalog model.
 *
 * - An input whose whole value is a placeholder (`"{{width}}"`) becomes the value with its type: numbers stay
 *   numbers. A placeholder inside a longer string (`"wan/{{seed}}"`) is written into the string.
 * - `{{image}}` is the input image uploaded through POST /upload/image; it must be a whole value (a LoadImage node's
 *   `image`). When a request has no image, the nodes that take `{{image}}` are left out together with the inputs
 *   that link to them, so one template serves a model whose image is optional (ti2v-5B) with and without one.
 * - Every template must use `{{width}}`, `{{height}}`, `{{frames}}`, `{{steps}}` and `{{seed}}` (Understudy changes
 *   them to reduce a job, so a template that ignored them would silently break reductions), `{{prompt}}` when the
 *   model takes text, and `{{image}}` exactly when it takes an image.
 * - An optional top-level `"_understudy"` object is read by Understudy and not sent to ComfyUI:
 *   `defaultNegativePrompt` gives `{{negative_prompt}}` when a request has none; `defaults: {steps, frames}` give the
 *   steps and frames of a request that sets none (a 4-step lightx2v LoRA template must not get 25 steps);
 *   `sizeMultiple` (default 16; 32 for ti2v-5B) and `frameMultiple` (default 4: frames are 4k+1) are what the
 *   template's nodes make of a size, so a request's size and frames are rounded down to them and the real size said.
 *
 * Templates are checked when loaded; every problem is reported with the file, the node and the placeholder.
 */
import { readFile } from 'node:fs/promises';
import type { ModelDescriptor } from '../../core/catalog.js';
import { ValidationError, type ValidationIssue } from '../../core/validation.js';

/** Each placeholder and the type of its value. */
export const PLACEHOLDER_TYPES = {
  /** The request's prompt. */
  prompt: 'string',
  /** The request's negative prompt, else the template's `defaultNegativePrompt`, else empty. */
  negative_prompt: 'string',
  /** Name of the uploaded input image, for a LoadImage node. */
  image: 'string',
  /** Width in pixels, from the request's resolution. */
  width: 'number',
  /** Height in pixels, from the request's resolution. */
  height: 'number',
  /** Frames to generate (the video length). */
  frames: 'number',
  /** Sampling steps in all. */
  steps: 'number',
  /** Where a two-expert model (Wan2.2 A14B) hands over from the high-noise to the low-noise model: half the steps, rounded down. */
  switch_step: 'number',
  /** Noise seed. */
  seed: 'number',
} as const;
export type PlaceholderName = keyof typeof PLACEHOLDER_TYPES;
const PLACEHOLDER_NAMES = Object.keys(PLACEHOLDER_TYPES) as PlaceholderName[];

/** Values for one generation; `image` is absent when the request has no image. */
export interface PlaceholderValues {
  readonly prompt: string;
  readonly negative_prompt?: string;
  readonly image?: string;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly steps: number;
  readonly seed: number;
}

/** Placeholders every template must use. */
const ALWAYS_REQUIRED: readonly PlaceholderName[] = ['width', 'height', 'frames', 'steps', 'seed'];

/** Node inputs that name model files: per node class, per input, the ComfyUI folders (GET /models/{folder}) listing the file. */
export type LoaderTable = Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;

/**
 * The core loaders and ComfyUI-GGUF's (city96), common for Wan2.2 14B on GPUs of 16 GB or less: `unet_gguf` and
 * `clip_gguf` are the folders it registers for `.gguf` files (the core folders list only .safetensors/.ckpt/…), and
 * its CLIP loaders also take the core text encoders.
 */
export const LOADER_FILE_INPUTS: LoaderTable = {
  UNETLoader: { unet_name: ['diffusion_models'] },
  CLIPLoader: { clip_name: ['text_encoders'] },
  DualCLIPLoader: { clip_name1: ['text_encoders'], clip_name2: ['text_encoders'] },
  VAELoader: { vae_name: ['vae'] },
  CLIPVisionLoader: { clip_name: ['clip_vision'] },
  CheckpointLoaderSimple: { ckpt_name: ['checkpoints'] },
  LoraLoader: { lora_name: ['loras'] },
  LoraLoaderModelOnly: { lora_name: ['loras'] },
  UnetLoaderGGUF: { unet_name: ['unet_gguf'] },
  UnetLoaderGGUFAdvanced: { unet_name: ['unet_gguf'] },
  CLIPLoaderGGUF: { clip_name: ['text_encoders', 'clip_gguf'] },
  DualCLIPLoaderGGUF: { clip_name1: ['text_encoders', 'clip_gguf'], clip_name2: ['text_encoders', 'clip_gguf'] },
};

/** One node of an API-format workflow. */
export interface ApiNode {
  readonly class_type: string;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly _meta?: Readonly<Record<string, unknown>>;
}

/** An API-format workflow, as POST /prompt takes it. */
export type ApiWorkflow = Readonly<Record<string, ApiNode>>;

/** A model file a template's loader node loads. */
export interface TemplateModelFile {
  /** ComfyUI model folders (as GET /models/{folder} takes them) any of which may list it. */
  readonly folders: readonly string[];
  /** File name as the node input gives it; ComfyUI compares it as written (`sub\\x.safetensors` on Windows). */
  readonly name: string;
  /** The node that loads it. */
  readonly nodeId: string;
}

/** A checked template. */
export interface WorkflowTemplate {
  readonly modelId: string;
  /** The file it was read from. */
  readonly file: string;
  readonly workflow: ApiWorkflow;
  /** Placeholders the template uses. */
  readonly placeholders: ReadonlySet<PlaceholderName>;
  /** Nodes that take `{{image}}`, left out when a request has no image. */
  readonly imageNodeIds: readonly string[];
  /** Model files the loader nodes load. */
  readonly modelFiles: readonly TemplateModelFile[];
  readonly defaultNegativePrompt: string;
  /** Steps and frames of a request that sets none, when the template gives them. */
  readonly defaults: TemplateDefaults;
  /** Width and height are rounded down to a multiple of this. */
  readonly sizeMultiple: number;
  /** Frames are rounded down to `k × frameMultiple + 1` (1: any count). */
  readonly frameMultiple: number;
}

/** `_understudy.defaults` of a template. */
export interface TemplateDefaults {
  readonly steps?: number;
  readonly frames?: number;
}

/** The size a template's nodes actually make of a requested one. */
export interface TemplateSize {
  readonly width: number;
  readonly height: number;
  readonly frames: number;
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([^{}]*?)\s*\}\}$/;

/**
 * Reads and checks the template of `model` from `file` (`loaders`: which node inputs name model files); throws a
 * ValidationError naming the file when it is not valid.
 */
export async function loadWorkflowTemplate(file: string, model: ModelDescriptor, loaders: LoaderTable = LOADER_FILE_INPUTS): Promise<WorkflowTemplate> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ValidationError(`ComfyUI workflow template ${file} for model ${model.id}`, [
      { field: '', problem: `cannot be read: ${(error as Error).message}` },
    ]);
  }
  return parseWorkflowTemplate(text, file, model, loaders);
}

/** Checks template text (JSON) for `model`; `file` names it in errors. */
export function parseWorkflowTemplate(text: string, file: string, model: ModelDescriptor, loaders: LoaderTable = LOADER_FILE_INPUTS): WorkflowTemplate {
  const subject = `ComfyUI workflow template ${file} for model ${model.id}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(subject, [{ field: '', problem: `not valid JSON: ${(error as Error).message}` }]);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ValidationError(subject, [{ field: '', problem: 'expected an API-format workflow: an object of nodes by id ("Save (API format)" in ComfyUI)', received: json }]);
  }
  const issues: ValidationIssue[] = [];
  const { _understudy: options, ...nodes } = json as Record<string, unknown>;
  const { defaultNegativePrompt, defaults, sizeMultiple, frameMultiple } = readOptions(options, issues);
  const workflow: Record<string, ApiNode> = {};
  const used = new Set<PlaceholderName>();
  const usedAt = new Map<PlaceholderName, string>();
  const imageNodeIds: string[] = [];
  const modelFiles: TemplateModelFile[] = [];

  if (Object.keys(nodes).length === 0) issues.push({ field: '', problem: 'expected at least one node' });
  for (const [nodeId, node] of Object.entries(nodes)) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) {
      issues.push({ field: nodeId, problem: 'expected a node: {"class_type": "...", "inputs": {...}}', received: node });
      continue;
    }
    const { class_type: classType, inputs } = node as { class_type?: unknown; inputs?: unknown };
    if (typeof classType !== 'string' || classType === '') {
      issues.push({ field: `${nodeId}.class_type`, problem: 'expected the node class name, e.g. "KSampler"', received: classType });
      continue;
    }
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
      issues.push({ field: `${nodeId}.inputs`, problem: `expected the inputs of node ${nodeId} (${classType}) as an object`, received: inputs });
      continue;
    }
    workflow[nodeId] = node as ApiNode;
    for (const [inputName, value] of Object.entries(inputs as Record<string, unknown>)) {
      const field = `${nodeId}.inputs.${inputName}`;
      const where = `node ${nodeId} (${classType}) input "${inputName}"`;
      if (isLink(value)) continue;
      if (typeof value !== 'string') continue;
      const names = placeholdersIn(value);
      const unknown = names.filter((name) => !isPlaceholderName(name));
      for (const name of unknown) {
        issues.push({ field, problem: `${where} uses an unknown placeholder {{${name}}}; expected one of ${PLACEHOLDER_NAMES.map((n) => `{{${n}}}`).join(', ')}`, received: value });
      }
      if (unknown.length === 0 && leftoverBraces(value)) {
        issues.push({ field, problem: `${where} has an unterminated placeholder; write placeholders as {{name}}`, received: value });
      }
      for (const name of names.filter(isPlaceholderName)) {
        used.add(name);
        if (!usedAt.has(name)) usedAt.set(name, where);
        if (name === 'image') {
          if (!WHOLE_PLACEHOLDER.test(value)) issues.push({ field, problem: `${where}: {{image}} must be the whole value (it names the uploaded file)`, received: value });
          else if (!imageNodeIds.includes(nodeId)) imageNodeIds.push(nodeId);
        }
      }
      const folders = loaders[classType]?.[inputName];
      if (folders !== undefined && names.length === 0) modelFiles.push({ folders, name: value, nodeId });
    }
  }
  checkLinks(workflow, issues);
  checkRequiredPlaceholders(model, used, usedAt, issues);
  if (issues.length > 0) throw new ValidationError(subject, issues);
  return { modelId: model.id, file, workflow, placeholders: used, imageNodeIds, modelFiles, defaultNegativePrompt, defaults, sizeMultiple, frameMultiple };
}

/** What the template's nodes make of `requested`: sizes rounded down to `sizeMultiple`, frames to k × `frameMultiple` + 1. */
export function templateSize(template: WorkflowTemplate, requested: TemplateSize): TemplateSize {
  const size = (value: number): number => Math.max(template.sizeMultiple, Math.floor(value / template.sizeMultiple) * template.sizeMultiple);
  const frames = Math.floor((Math.max(1, requested.frames) - 1) / template.frameMultiple) * template.frameMultiple + 1;
  return { width: size(requested.width), height: size(requested.height), frames };
}

/**
 * The workflow for one generation: placeholders replaced by `values` (whole-value placeholders keep their type) and,
 * without an image, the image nodes and the inputs linking to them left out.
 */
export function renderWorkflow(template: WorkflowTemplate, values: PlaceholderValues): ApiWorkflow {
  const resolved: Record<PlaceholderName, string | number | undefined> = {
    prompt: values.prompt,
    negative_prompt: values.negative_prompt ?? template.defaultNegativePrompt,
    image: values.image,
    width: values.width,
    height: values.height,
    frames: values.frames,
    steps: values.steps,
    switch_step: Math.floor(values.steps / 2),
    seed: values.seed,
  };
  const dropped = new Set(values.image === undefined ? template.imageNodeIds : []);
  const out: Record<string, ApiNode> = {};
  for (const [nodeId, node] of Object.entries(template.workflow)) {
    if (dropped.has(nodeId)) continue;
    const inputs: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(node.inputs)) {
      if (isLink(value) && dropped.has(value[0])) continue;
      inputs[name] = typeof value === 'string' ? substitute(value, resolved) : value;
    }
    out[nodeId] = { ...node, inputs };
  }
  return out;
}

function substitute(value: string, resolved: Record<PlaceholderName, string | number | undefined>): unknown {
  const whole = WHOLE_PLACEHOLDER.exec(value);
  if (whole && isPlaceholderName(whole[1] ?? '')) return resolved[whole[1] as PlaceholderName];
  return value.replace(PLACEHOLDER, (match, name: string) => (isPlaceholderName(name) ? String(resolved[name] ?? '') : match));
}

interface TemplateOptions {
  readonly defaultNegativePrompt: string;
  readonly defaults: TemplateDefaults;
  readonly sizeMultiple: number;
  readonly frameMultiple: number;
}

const OPTION_NAMES = ['defaultNegativePrompt', 'defaults', 'sizeMultiple', 'frameMultiple'];

function readOptions(options: unknown, issues: ValidationIssue[]): TemplateOptions {
  const read: { -readonly [K in keyof TemplateOptions]: TemplateOptions[K] } = { defaultNegativePrompt: '', defaults: {}, sizeMultiple: 16, frameMultiple: 4 };
  if (options === undefined) return read;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    issues.push({ field: '_understudy', problem: 'expected an object such as {"defaultNegativePrompt": "...", "defaults": {"steps": 4}}', received: options });
    return read;
  }
  const { defaultNegativePrompt, defaults, sizeMultiple, frameMultiple, ...rest } = options as Record<string, unknown>;
  for (const key of Object.keys(rest)) issues.push({ field: `_understudy.${key}`, problem: `unknown option; expected one of ${OPTION_NAMES.join(', ')}` });
  if (defaultNegativePrompt !== undefined) {
    if (typeof defaultNegativePrompt === 'string') read.defaultNegativePrompt = defaultNegativePrompt;
    else issues.push({ field: '_understudy.defaultNegativePrompt', problem: 'expected a string', received: defaultNegativePrompt });
  }
  const positiveInteger = (field: string, value: unknown, max: number): number | undefined => {
    if (value === undefined) return undefined;
    if (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max) return value as number;
    issues.push({ field: `_understudy.${field}`, problem: `expected a whole number from 1 to ${max}`, received: value });
    return undefined;
  };
  read.sizeMultiple = positiveInteger('sizeMultiple', sizeMultiple, 256) ?? read.sizeMultiple;
  read.frameMultiple = positiveInteger('frameMultiple', frameMultiple, 64) ?? read.frameMultiple;
  if (defaults !== undefined) {
    if (defaults === null || typeof defaults !== 'object' || Array.isArray(defaults)) {
      issues.push({ field: '_understudy.defaults', problem: 'expected an object such as {"steps": 4, "frames": 81}', received: defaults });
    } else {
      const { steps, frames, ...others } = defaults as Record<string, unknown>;
      for (const key of Object.keys(others)) issues.push({ field: `_understudy.defaults.${key}`, problem: 'unknown default; expected "steps" or "frames"' });
      const stepsValue = positiveInteger('defaults.steps', steps, 1000);
      const framesValue = positiveInteger('defaults.frames', frames, 10_000);
      read.defaults = { ...(stepsValue !== undefined && { steps: stepsValue }), ...(framesValue !== undefined && { frames: framesValue }) };
    }
  }
  return read;
}

function checkLinks(workflow: Record<string, ApiNode>, issues: ValidationIssue[]): void {
  for (const [nodeId, node] of Object.entries(workflow)) {
    for (const [inputName, value] of Object.entries(node.inputs)) {
      if (isLink(value) && !(value[0] in workflow)) {
        issues.push({
          field: `${nodeId}.inputs.${inputName}`,
          problem: `node ${nodeId} (${node.class_type}) input "${inputName}" links to node ${value[0]}, which is not in the workflow`,
          received: value,
        });
      }
    }
  }
}

function checkRequiredPlaceholders(
  model: ModelDescriptor,
  used: ReadonlySet<PlaceholderName>,
  usedAt: ReadonlyMap<PlaceholderName, string>,
  issues: ValidationIssue[],
): void {
  const required = [...ALWAYS_REQUIRED];
  if (model.inputs.text !== 'unsupported') required.unshift('prompt');
  if (model.inputs.image !== 'unsupported') required.push('image');
  for (const name of required) {
    if (!used.has(name)) {
      const why = name === 'image' ? `model ${model.id} takes an input image` : name === 'prompt' ? `model ${model.id} takes a text prompt` : 'Understudy sets it for every job';
      issues.push({ field: '', problem: `expected a node input using {{${name}}} (${why})` });
    }
  }
  const image = usedAt.get('image');
  if (model.inputs.image === 'unsupported' && image !== undefined) {
    issues.push({ field: '', problem: `${image} uses {{image}}, but model ${model.id} takes no input image` });
  }
}

/** `["37", 0]`: an input linked to output 0 of node 37. */
function isLink(value: unknown): value is readonly [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1]);
}

function isPlaceholderName(name: string): name is PlaceholderName {
  return Object.hasOwn(PLACEHOLDER_TYPES, name);
}

function placeholdersIn(value: string): string[] {
  return [...value.matchAll(PLACEHOLDER)].map((match) => match[1] ?? '');
}

function leftoverBraces(value: string): boolean {
  return value.replace(PLACEHOLDER, '').includes('{{');
}
