/**
 * Configuration of one ComfyUI backend (one ComfyUI server, usually one GPU). Several servers are several configs,
 * each with its own `id` and `slots`. Every field has a documented default except where noted.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { OFFLOAD_MODES, type OffloadMode } from '../../core/recovery-policy.js';
import { ValidationError, toValidationIssues, type ValidationIssue } from '../../core/validation.js';
import { redactUrl } from './comfyui-endpoint.js';

/** The workflow templates shipped with Understudy (`templates/comfyui` at the package root). */
export const SHIPPED_TEMPLATES_DIR = fileURLToPath(new URL('../../../templates/comfyui/', import.meta.url));

/**
 * Where the first folder of a catalog file path (`diffusion_models/wan2.2_...safetensors`) lives in ComfyUI, as the
 * folder name `GET /models/{folder}` takes. ComfyUI's own aliases (`unet`, `clip`) map to its current names.
 */
export const DEFAULT_MODEL_FOLDERS: Readonly<Record<string, string>> = {
  diffusion_models: 'diffusion_models',
  unet: 'diffusion_models',
  text_encoders: 'text_encoders',
  clip: 'text_encoders',
  vae: 'vae',
  clip_vision: 'clip_vision',
  loras: 'loras',
  checkpoints: 'checkpoints',
};

/**
 * ComfyUI command-line flags per offload mode, added when Understudy relaunches a managed ComfyUI.
 * `model` keeps no model in VRAM between prompts (ComfyUI's `--disable-smart-memory`); `sequential` and `lowvram`
 * split the diffusion model between GPU and CPU (`--lowvram`); `novram` keeps weights in CPU memory (`--novram`).
 */
export const DEFAULT_OFFLOAD_ARGS: Readonly<Record<OffloadMode, readonly string[]>> = {
  none: [],
  model: ['--disable-smart-memory'],
  sequential: ['--lowvram'],
  lowvram: ['--lowvram'],
  novram: ['--novram'],
};

const milliseconds = z.number().int().positive();

/** How Understudy starts and restarts ComfyUI itself (optional: without it ComfyUI is run by someone else). */
export const ComfyUiLaunchSchema = z.strictObject({
  /** The program, e.g. `python` or `/opt/ComfyUI/venv/bin/python`. Required. */
  command: z.string().min(1),
  /** Its arguments, e.g. `["main.py", "--listen", "127.0.0.1", "--port", "8188"]`. Default none. */
  args: z.array(z.string()).default([]),
  /** Working directory, e.g. the ComfyUI checkout. Default Understudy's working directory. */
  cwd: z.string().min(1).optional(),
  /** Extra environment variables, e.g. `{"CUDA_VISIBLE_DEVICES": "1"}`. Default none. */
  env: z.record(z.string(), z.string()).default({}),
  /** Flags added per offload mode on relaunch. Default {@link DEFAULT_OFFLOAD_ARGS}; modes given here replace those. */
  offloadArgs: z.partialRecord(z.enum(OFFLOAD_MODES), z.array(z.string())).default({}),
  /**
   * Flags applyVramOptimization relaunches with, e.g. `["--reserve-vram", "2"]`. Default none: ComfyUI has no switch
   * for VRAM optimisations at runtime, so the action reports that none are configured.
   */
  vramOptimizationArgs: z.array(z.string()).default([]),
});

/** Time limits, all in milliseconds of the injected clock. */
export const ComfyUiTimeoutsSchema = z.strictObject({
  /** One HTTP request to ComfyUI. Default 30000. */
  requestMs: milliseconds.default(30_000),
  /** Opening the WebSocket. Default 10000. */
  connectMs: milliseconds.default(10_000),
  /** A prompt waiting in ComfyUI's queue before it starts; then it is removed and the job fails. Default 1800000 (30 min). */
  queueMs: milliseconds.default(1_800_000),
  /** A prompt running, from its start to its end; then it is interrupted and the job fails. Default 7200000 (2 h). */
  executionMs: milliseconds.default(7_200_000),
  /**
   * Silence on the WebSocket after which, and period at which, GET /history and /queue are asked how a prompt is doing
   * (a reconnected socket can go silent for good, see docs/comfyui.md). Default 15000.
   */
  statusCheckMs: milliseconds.default(15_000),
  /** A managed ComfyUI answering `GET /system_stats` after launch. Default 180000 (3 min). */
  startupMs: milliseconds.default(180_000),
  /** A managed ComfyUI exiting after SIGTERM, before SIGKILL. Default 10000. */
  stopMs: milliseconds.default(10_000),
  /** Between readiness checks of a managed ComfyUI while it starts. Default 500. */
  pollMs: milliseconds.default(500),
});

/** Reconnecting the WebSocket when it drops while a prompt runs. */
export const ComfyUiReconnectSchema = z.strictObject({
  /** Reconnection tries per drop, the first one immediate. Default 5. */
  attempts: z.number().int().min(1).max(100).default(5),
  /** Wait before the second try, ms; each further wait doubles. Default 1000. */
  initialDelayMs: milliseconds.default(1000),
});

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A header value: the text itself, or `{"env": "NAME"}` to read it from the environment variable NAME when the
 * backend is created (so a token need not be written in the config file).
 */
export const HeaderValueSchema = z.union([
  z.string().min(1).regex(/^[^\r\n]*$/, 'expected a header value without line breaks'),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') }),
]);
export type HeaderValue = z.output<typeof HeaderValueSchema>;

/** What Understudy removes from the ComfyUI server after a job. */
export const ComfyUiCleanupSchema = z.strictObject({
  /**
   * How long a finished prompt of ours stays in ComfyUI's /history once its outputs are saved, ms: 0 deletes it at
   * once (POST /history {delete}), null keeps it (ComfyUI keeps up to 10000 records in memory). Default 0.
   */
  historyRetentionMs: z.number().int().min(0).nullable().default(0),
});

/** Configuration of one ComfyUI backend. */
export const ComfyUiConfigSchema = z.strictObject({
  /** Names the backend in jobs, events, breakers and recovery attempts. Default `comfyui`. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected letters, digits, ".", "_" or "-", at most 64').default('comfyui'),
  /**
   * Base URL of the ComfyUI server, with a path prefix behind a proxy. `user:password@` in it is sent as a basic-auth
   * `Authorization` header (never as part of the URL); a query (`?token=…`) is added to every request and the
   * WebSocket. Neither is ever shown in labels, errors or events. Default `http://127.0.0.1:8188`.
   */
  url: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'expected an http or https URL')
    .transform((u) => u.replace(/\/+$/, ''))
    .default('http://127.0.0.1:8188'),
  /**
   * Headers sent with every request and the WebSocket upgrade, for a proxy in front of ComfyUI (nginx basic auth,
   * Cloudflare Access `CF-Access-Client-Id`/`-Secret`, a bearer token). Values may come from the environment
   * (`{"env": "NAME"}`). Default none.
   */
  headers: z
    .record(z.string().regex(HEADER_NAME, 'expected an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)'), HeaderValueSchema)
    .default({}),
  /** Prompts Understudy gives this server at once; ComfyUI queues what it cannot start yet. Default 1. */
  slots: z.number().int().min(1).max(64).default(1),
  /** Directory of the workflow templates, one `<model id>.json` per model. Default the shipped templates. */
  templatesDir: z.string().min(1).default(SHIPPED_TEMPLATES_DIR),
  /**
   * Your own templates: a `<model id>.json` (or the `templates` file) here is used instead of the one in `templatesDir`,
   * so the shipped ones stay as fallbacks. Default none.
   */
  userTemplatesDir: z.string().min(1).optional(),
  /** Template file per model id, relative to `templatesDir`, where it is not `<model id>.json`. Default none. */
  templates: z.record(z.string(), z.string().min(1)).default({}),
  /** Ids of the catalog models this server runs. Default every catalog model that has a template file. */
  models: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Loader nodes whose inputs name model files, for availability: `{ class: { input: folder or [folders] } }`, e.g.
   * `{"WanVideoModelLoader": {"model": "diffusion_models"}}`. Adds to the built-in table (core loaders and
   * ComfyUI-GGUF's `UnetLoaderGGUF`, `CLIPLoaderGGUF`, …). Default none.
   */
  loaders: z.record(z.string().min(1), z.record(z.string().min(1), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]))).default({}),
  /** First folder of catalog file paths → ComfyUI model folder. Entries given here add to {@link DEFAULT_MODEL_FOLDERS}. */
  modelFolders: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** Frames when a request gives none (the planner's reference count). Default 16. */
  referenceFrames: z.number().int().positive().default(16),
  /** Sampling steps when a request gives none (the planner's reference count). Default 25. */
  referenceSteps: z.number().int().positive().default(25),
  /** Starts and restarts ComfyUI as a child process. Default none (ComfyUI is run by someone else). */
  launch: ComfyUiLaunchSchema.optional(),
  timeouts: ComfyUiTimeoutsSchema.prefault({}),
  reconnect: ComfyUiReconnectSchema.prefault({}),
  cleanup: ComfyUiCleanupSchema.prefault({}),
});

/** ComfyUI backend configuration as written (every field optional). */
export type ComfyUiConfigInput = z.input<typeof ComfyUiConfigSchema>;
/** ComfyUI backend configuration with defaults applied. */
export type ComfyUiConfig = z.output<typeof ComfyUiConfigSchema>;
export type ComfyUiLaunchConfig = z.output<typeof ComfyUiLaunchSchema>;
export type ComfyUiTimeouts = z.output<typeof ComfyUiTimeoutsSchema>;

/**
 * Validates a ComfyUI backend configuration; throws a ValidationError naming each bad field. Header values and the
 * URL's credentials and query are never echoed back.
 */
export function parseComfyUiConfig(input: unknown = {}): ComfyUiConfig {
  const result = ComfyUiConfigSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new ValidationError('ComfyUI backend config', toValidationIssues(result.error).map(withoutSecrets));
}

function withoutSecrets(issue: ValidationIssue): ValidationIssue {
  if (issue.field === 'url' && typeof issue.received === 'string') return { ...issue, received: redactUrl(issue.received) };
  if (issue.field !== 'headers' && !issue.field.startsWith('headers.')) return issue;
  const { received: _secret, ...rest } = issue;
  return rest;
}
