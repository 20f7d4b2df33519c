/**
 * The service's configuration: the engine's keys (UnderstudyConfigSchema) and the server's, read from a file
 * (understudy.config.json or .yaml), the environment (one UNDERSTUDY_* variable per key) and command-line flags, in
 * that order of precedence, lowest first. Every error names the key, where its value came from, what is allowed and
 * the value received.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ValidationError, formatPath, type ValidationIssue } from '../core/validation.js';
import { UnderstudyConfigSchema, redactStoreUrl, type UnderstudyConfigInput } from '../composition/index.js';

/** Config files looked for in the working directory when none is named. */
export const CONFIG_FILE_NAMES = ['understudy.config.yaml', 'understudy.config.yml', 'understudy.config.json'] as const;

/** Prefix of every environment variable. */
export const ENV_PREFIX = 'UNDERSTUDY_';

/** The server's own keys. */
const ServerConfigShape = {
  /** Address to listen on (default 127.0.0.1; anything beyond loopback needs a token). */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port to listen on; 0 picks a free one (default 8080). */
  port: z.number().int().min(0).max(65535).default(8080),
  /** Bearer token required on every route but /healthz and /readyz. */
  token: z
    .string()
    .min(16, 'expected at least 16 characters (e.g. the output of `openssl rand -hex 32`)')
    .regex(/^\S+$/, 'expected no spaces')
    .optional(),
  /** Per-client rate limit. */
  rateLimit: z
    .strictObject({
      /** Requests one client address may make per window; 0 turns the limit off (default 600). */
      max: z.number().int().min(0).default(600),
      /** Window, ms (default 60000). */
      timeWindowMs: z.number().int().min(1000).default(60_000),
    })
    .prefault({}),
  /** Largest request body, bytes (default: the largest image as base64 plus 64 KiB). */
  bodyLimitBytes: z.number().int().min(1024).optional(),
  /** Seconds running jobs get to finish on shutdown before they are given back to the queue (default 30). */
  shutdownGraceSeconds: z.number().min(0).default(30),
  /** Server log level: fatal, error, warn, info, debug, trace or silent (default warn). */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
};

/** Every key of the service: the engine's and the server's. */
export const ServiceConfigSchema = z.strictObject({ ...UnderstudyConfigSchema.shape, ...ServerConfigShape });
export type ServiceConfig = z.output<typeof ServiceConfigSchema>;

/** The command-line flags that set config keys. */
export interface ConfigFlags {
  /** Path of a config file. */
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  /** `--store <url>`: the Redis store (absent: the embedded SQLite file). */
  store?: string;
  /** `--id <name>` of `understudy worker`. */
  id?: string;
  /** false for `--no-worker`: a gateway only. */
  worker?: boolean;
  /** true for `--allow-volatile-redis`. */
  allowVolatileRedis?: boolean;
}

/** Where the config is read from; defaults are the process's. */
export interface ConfigSources {
  flags?: ConfigFlags;
  env?: NodeJS.ProcessEnv;
  /** Directory config files are looked for in (default the working directory). */
  cwd?: string;
}

/** The engine's part of a service config, as createUnderstudy takes it. */
export function engineConfig(config: ServiceConfig): UnderstudyConfigInput {
  const engineKeys = Object.keys(UnderstudyConfigSchema.shape);
  return Object.fromEntries(Object.entries(config).filter(([key]) => engineKeys.includes(key))) as UnderstudyConfigInput;
}

/** Reads and validates the config; throws a ValidationError naming every bad key and its source. */
export async function loadConfig(sources: ConfigSources = {}): Promise<{ config: ServiceConfig; file: string | null }> {
  const env = sources.env ?? process.env;
  const flags = sources.flags ?? {};
  const origins = new Map<string, string>();
  const file = findConfigFile(flags.config ?? env[`${ENV_PREFIX}CONFIG`], sources.cwd ?? process.cwd());
  const merged: Record<string, unknown> = {};
  if (file) {
    const fromFile = await readConfigFile(file);
    for (const [path, value] of leaves(fromFile)) setPath(merged, path, value, origins, file);
  }
  for (const { path, name, kind } of envVariables()) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') setPath(merged, path, fromText(raw, kind), origins, `environment ${name}`);
  }
  const flagValues: Array<[string, string | undefined, keyof ConfigFlags]> = [
    ['host', flags.host, 'host'],
    ['port', flags.port, 'port'],
    ['dataDir', flags.dataDir, 'dataDir'],
    ['store', flags.store, 'store'],
    ['workerId', flags.id, 'id'],
  ];
  for (const [key, raw, flag] of flagValues) {
    if (raw !== undefined) setPath(merged, [key], fromText(raw, kindOf(ServiceConfigSchema.shape[key as keyof typeof ServiceConfigSchema.shape])), origins, `flag --${kebab(flag)}`);
  }
  // Switches set their key only when given, so that a default (true for --no-worker) never overrides the file.
  if (flags.worker === false) setPath(merged, ['localWorker'], false, origins, 'flag --no-worker');
  if (flags.allowVolatileRedis === true) setPath(merged, ['redis', 'allowVolatile'], true, origins, 'flag --allow-volatile-redis');
  const result = ServiceConfigSchema.safeParse(merged, { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.flatMap((issue) => describe(issue, origins));
    throw new ValidationError(`config${file ? ` (file ${file}, environment, flags)` : ' (environment, flags)'}`, issues);
  }
  return { config: result.data, file };
}

/** Every environment variable that sets a key, with the key's path and kind of value. */
export function envVariables(): Array<{ name: string; path: string[]; kind: ValueKind }> {
  const out: Array<{ name: string; path: string[]; kind: ValueKind }> = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string[]): void => {
    for (const [key, schema] of Object.entries(shape)) {
      const inner = unwrap(schema);
      const path = [...prefix, key];
      if (inner instanceof z.ZodObject) walk(inner.shape as Record<string, z.ZodType>, path);
      else out.push({ name: ENV_PREFIX + path.map(screamingSnake).join('_'), path, kind: kindOf(inner) });
    }
  };
  walk(ServiceConfigSchema.shape, []);
  return out;
}

/** How a value written as text (environment, flag) is read. */
type ValueKind = 'string' | 'number' | 'boolean' | 'list' | 'json';

function kindOf(schema: z.ZodType): ValueKind {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodNumber) return 'number';
  if (inner instanceof z.ZodBoolean) return 'boolean';
  if (inner instanceof z.ZodArray) return kindOf(inner.element as z.ZodType) === 'json' ? 'json' : 'list';
  if (inner instanceof z.ZodRecord || inner instanceof z.ZodObject) return 'json';
  return 'string';
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
    current = current.def.innerType as z.ZodType;
  }
  return current;
}

/** Reads text as the kind of value a key takes; what cannot be read is kept as text, for the schema to report. */
function fromText(raw: string, kind: ValueKind): unknown {
  const text = raw.trim();
  switch (kind) {
    case 'number':
      return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text) ? Number(text) : raw;
    case 'boolean':
      return ['true', '1', 'yes'].includes(text.toLowerCase()) ? true : ['false', '0', 'no'].includes(text.toLowerCase()) ? false : raw;
    case 'list':
      return text.startsWith('[') ? parseJsonOrKeep(text) : text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'json':
      return parseJsonOrKeep(text);
    case 'string':
      return raw;
  }
}

function parseJsonOrKeep(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function findConfigFile(named: string | undefined, cwd: string): string | null {
  if (named) {
    const path = resolve(cwd, named);
    if (!existsSync(path)) {
      throw new ValidationError('config', [{ field: '--config', problem: 'expected an existing file (understudy.config.yaml or .json)', received: named }]);
    }
    return path;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  return null;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8');
  let value: unknown;
  try {
    value = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ValidationError(`config file ${path}`, [{ field: '', problem: `not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(error as Error).message}` }]);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`config file ${path}`, [{ field: '', problem: 'expected a mapping of keys to values', received: value }]);
  }
  return value as Record<string, unknown>;
}

/** The leaves of a config object: nested objects of known objects are walked, everything else is a value. */
function leaves(value: Record<string, unknown>, prefix: string[] = []): Array<[string[], unknown]> {
  return Object.entries(value).flatMap(([key, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && isNestedKey([...prefix, key])
      ? leaves(v as Record<string, unknown>, [...prefix, key])
      : [[[...prefix, key], v] as [string[], unknown]],
  );
}

/** Whether `path` names an object of known keys (walked leaf by leaf) rather than a free-form value. */
function isNestedKey(path: string[]): boolean {
  let shape: Record<string, z.ZodType> | undefined = ServiceConfigSchema.shape;
  let schema: z.ZodType | undefined;
  for (const key of path) {
    schema = shape?.[key] ? unwrap(shape[key]) : undefined;
    shape = schema instanceof z.ZodObject ? (schema.shape as Record<string, z.ZodType>) : undefined;
  }
  return schema instanceof z.ZodObject;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown, origins: Map<string, string>, origin: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
  origins.set(path.join('.'), origin);
}

/** One zod issue in words, with where the value came from; an unknown key lists the keys allowed there. */
function describe(issue: z.core.$ZodIssue, origins: Map<string, string>): ValidationIssue[] {
  const where = (field: string): string => {
    const origin = origins.get(field.replace(/\[\d+\]/g, ''));
    return origin ? `${field} (${origin})` : field;
  };
  if (issue.code === 'unrecognized_keys') {
    const allowed = Object.keys(shapeAt(issue.path));
    return issue.keys.map((key) => ({
      field: where(formatPath([...issue.path, key])),
      problem: `unknown key; expected one of ${allowed.join(', ')}`,
    }));
  }
  const field = formatPath(issue.path);
  const out: ValidationIssue = { field: where(field), problem: issue.message };
  if ('input' in issue && issue.input !== undefined) out.received = field === 'store' && typeof issue.input === 'string' ? redactStoreUrl(issue.input) : issue.input;
  return [out];
}

function shapeAt(path: readonly PropertyKey[]): Record<string, z.ZodType> {
  let shape: Record<string, z.ZodType> = ServiceConfigSchema.shape;
  for (const key of path) {
    const inner = shape[String(key)] ? unwrap(shape[String(key)]!) : undefined;
    if (!(inner instanceof z.ZodObject)) return {};
    shape = inner.shape as Record<string, z.ZodType>;
  }
  return shape;
}

function screamingSnake(key: string): string {
  return key
    .replace(/MiB/g, 'Mib')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

function kebab(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** The starter config `understudy init` writes: every key at its default, each with a comment. */
export const STARTER_CONFIG = `# Understudy configuration. Every key is optional; the values shown are the defaults.
# Precedence, lowest first: this file, environment variables (UNDERSTUDY_<KEY>, e.g. UNDERSTUDY_PORT,
# UNDERSTUDY_SIMULATED_VRAM_GB), then command-line flags (--host, --port, --data-dir, --store, ...).

# --- server ---
host: 127.0.0.1            # listening beyond loopback (e.g. 0.0.0.0) requires a token
port: 8080                 # 0 picks a free port
# token: <at least 16 characters>   # bearer token for every route but /healthz and /readyz;
                                     # better set as UNDERSTUDY_TOKEN than written here
rateLimit:
  max: 600                 # requests per client address per window; 0 turns the limit off
  timeWindowMs: 60000
# bodyLimitBytes: 14045184 # largest request body; default: the largest image as base64 plus 64 KiB
shutdownGraceSeconds: 30   # on SIGTERM/SIGINT, running jobs get this long to finish; the rest are requeued
logLevel: warn             # fatal, error, warn, info, debug, trace or silent

# --- engine ---
dataDir: ./data            # SQLite job store, outputs and input images
# store: redis://127.0.0.1:6379   # jobs in Redis, for gateways and workers on several machines (docs/distributed.md);
                                  # better set as UNDERSTUDY_STORE when it holds a password
redis:
  prefix: understudy       # prefix of every Redis key
  allowVolatile: false     # true (--allow-volatile-redis) accepts a Redis that can lose jobs: demos only
localWorker: true          # with a Redis store, a gateway also runs jobs on its own backends (--no-worker: false)
# workerId: gpu-1          # this process's name among workers (default host name + pid)
# artifacts:
#   dir: ./data            # input images and outputs (default dataDir); several machines need one shared mount
maxQueueSize: 100          # most jobs waiting at once; more answer 429 with Retry-After
# catalogFile: models.yaml # models added to or overriding the built-in Wan2.2 catalog
planner: {}                # weights, tables, thresholds and policies (default: the reference's)
recovery: {}               # recovery chains, cooldowns, attempt budget and breakers
healthIntervalSeconds: 60  # health check period; 0 turns monitoring off
limits:
  maxPromptLength: 4000    # characters
  maxImageBytes: 10485760  # decoded input image, bytes (PNG, JPEG or WebP)
jobs:
  leaseMs: 15000           # how long a worker's claim lasts unless renewed
  maxAttempts: 3           # runs a job gets before it fails for good
  agingSeconds: 600        # waiting this long raises a job one priority level; 0 turns aging off
  retentionDays: 7         # finished jobs are kept this long
  stallSeconds: 300        # a generation with no progress this long is presumed hung, stopped and recovered
scheduling:
  affinity: true           # prefer jobs for the model already loaded...
  affinityMaxSkip: 3       # ...passing at most this many jobs of equal priority
  modelSpread: true        # GPUs keep distinct models loaded; one leaves its model for a model no GPU serves
  tickMs: 1000             # housekeeping period: expiry, lapsed leases, released waits

# --- backends ---
comfyui: []                # ComfyUI servers to run on instead of the simulated GPU (see docs/comfyui.md)
# modelFiles:              # a models directory whose files Understudy downloads and verifies itself
#   dir: ./models
#   layout: flat           # or comfyui (models/diffusion_models, models/vae, ...)
#   allowedHosts: [huggingface.co, '*.hf.co']   # hosts URLs and redirects may use (default any)
#   headers: { authorization: Bearer hf_... }   # sent with each download; not on to another origin after a redirect
#   caFile: ./mirror-ca.pem                     # extra CA certificates for https (a private mirror)
#   proxy: http://proxy.corp:3128               # default: HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY

# --- the simulated GPU (the embedded default backend) ---
simulated:
  vramGb: 24
  slots: 1                 # jobs at once
  installedModels: [ti2v-5B]   # the others download when a plan needs them
  downloadMiBPerSecond: 50
  timeScale: 0.02          # multiplies every simulated duration: a 120 s reference job takes 2.4 s
  faultProbabilities: {}   # chance per job of each fault (oom, crash, hang, load_failure), 0 to 1, e.g. { oom: 0.1 }
`;

/** Writes the starter config to `path`; refuses to overwrite an existing file unless `force`. */
export async function writeStarterConfig(path: string, force = false): Promise<void> {
  if (!force && existsSync(path)) {
    throw new ValidationError('init', [{ field: 'path', problem: 'a file is already there; pass --force to overwrite it', received: path }]);
  }
  await writeFile(path, STARTER_CONFIG, 'utf8');
}
