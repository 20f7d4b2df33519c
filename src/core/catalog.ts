import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { MODEL_CAPABILITIES, type ModelCapability } from './vocabulary.js';
import { ValidationError, formatPath, parseOrThrow, toValidationIssues, type ValidationIssue } from './validation.js';

/** How a model uses one kind of input. */
export const InputUseSchema = z.enum(['required', 'optional', 'unsupported']);
export type InputUse = z.infer<typeof InputUseSchema>;

/** A resolution written as WIDTHxHEIGHT, e.g. `1280x720`. */
export const ResolutionSchema = z
  .string()
  .regex(/^[1-9]\d{1,4}x[1-9]\d{1,4}$/, 'expected a resolution written as WIDTHxHEIGHT, e.g. 1280x720');

/** A relative path inside the models directory: no `..` segment, not absolute, no backslashes. */
export const ModelFilePathSchema = z
  .string()
  .min(1)
  .refine(
    (p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.includes('\\') && !p.split('/').includes('..'),
    'expected a relative path inside the models directory (no "..", not absolute, "/" as separator)',
  );

/** One file a model needs, with where to fetch it and how to verify it. */
export const ModelFileSchema = z.object({
  path: ModelFilePathSchema,
  sizeBytes: z.number().int().positive(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/, 'expected 64 lowercase hexadecimal characters'),
  urls: z
    .array(z.string().url().refine((u) => /^https?:\/\//.test(u), 'expected an http or https URL'))
    .min(1, 'expected at least one source URL'),
});
export type ModelFile = z.infer<typeof ModelFileSchema>;

/** Everything the planner needs to know about one model. */
export const ModelDescriptorSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected letters, digits, ".", "_" or "-", at most 64'),
  /** Human-readable name; defaults to the id. */
  name: z.string().min(1).optional(),
  /** How the model uses a text prompt and an input image. */
  inputs: z.object({ text: InputUseSchema, image: InputUseSchema }),
  capabilities: z.array(z.enum(MODEL_CAPABILITIES as [ModelCapability, ...ModelCapability[]])).min(1),
  /** Relative output quality, 0 (worst) to 1 (best). */
  qualityRank: z.number().gt(0).max(1),
  /** VRAM in GB at the reference resolution (1280x720) and reference frame count. */
  baseVramGb: z.number().positive(),
  /** Size of the model's files in GB, used for download estimates. */
  sizeGb: z.number().positive(),
  /** Seconds for one reference generation (1280x720, medium quality, reference frames and steps). */
  baseSeconds: z.number().positive(),
  /** Files that make up the model; empty when the backend manages files itself. */
  files: z.array(ModelFileSchema).default([]),
});
export type ModelDescriptor = z.infer<typeof ModelDescriptorSchema>;

/** Compatibility of a candidate model for a requested one: `table[requested][candidate]`, 0 to 1. */
export type CompatibilityTable = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** The set of known models and how well each can stand in for another. */
export interface Catalog {
  /** Models in catalog order. */
  readonly models: readonly ModelDescriptor[];
  readonly byId: ReadonlyMap<string, ModelDescriptor>;
  readonly compatibility: CompatibilityTable;
}

/** The three Wan2.2 models of the reference (DESIGN.md). */
export const DEFAULT_MODELS: readonly ModelDescriptor[] = [
  {
    id: 't2v-A14B',
    name: 'Wan2.2 T2V A14B',
    inputs: { text: 'required', image: 'unsupported' },
    capabilities: ['text_to_video', 'high_quality', 'high_resolution'],
    qualityRank: 0.9,
    baseVramGb: 8,
    sizeGb: 12,
    baseSeconds: 120,
    files: [],
  },
  {
    id: 'i2v-A14B',
    name: 'Wan2.2 I2V A14B',
    inputs: { text: 'optional', image: 'required' },
    capabilities: ['image_to_video', 'high_quality', 'high_resolution'],
    qualityRank: 0.95,
    baseVramGb: 9,
    sizeGb: 14,
    baseSeconds: 100,
    files: [],
  },
  {
    id: 'ti2v-5B',
    name: 'Wan2.2 TI2V 5B',
    inputs: { text: 'required', image: 'optional' },
    capabilities: ['text_image_to_video', 'fast_generation', 'high_quality'],
    qualityRank: 0.8,
    baseVramGb: 6,
    sizeGb: 8,
    baseSeconds: 80,
    files: [],
  },
];

/** The reference compatibility table (requested → candidate). Unknown pairs use the scoring default (0.5). */
export const DEFAULT_COMPATIBILITY: CompatibilityTable = {
  't2v-A14B': { 'i2v-A14B': 0.7, 'ti2v-5B': 0.8 },
  'i2v-A14B': { 't2v-A14B': 0.6, 'ti2v-5B': 0.9 },
  'ti2v-5B': { 't2v-A14B': 0.8, 'i2v-A14B': 0.9 },
};

/** Builds a catalog from complete descriptors, rejecting duplicate ids. */
export function createCatalog(
  models: readonly ModelDescriptor[] = DEFAULT_MODELS,
  compatibility: CompatibilityTable = DEFAULT_COMPATIBILITY,
): Catalog {
  const byId = new Map<string, ModelDescriptor>();
  const issues: ValidationIssue[] = [];
  models.forEach((m, i) => {
    if (byId.has(m.id)) issues.push({ field: `models[${i}].id`, problem: 'expected a unique model id', received: m.id });
    byId.set(m.id, m);
  });
  if (issues.length) throw new ValidationError('catalog', issues);
  return { models: [...models], byId, compatibility };
}

const CompatibilitySchema = z.record(z.string(), z.record(z.string(), z.number().min(0).max(1)));

/**
 * A user catalog file. Each entry of `models` either overrides fields of a model already known (by id) or adds a
 * complete new model. `compatibility` adds or overrides table entries. `replaceDefaults: true` starts from nothing.
 */
const CatalogFileSchema = z.strictObject({
  replaceDefaults: z.boolean().default(false),
  models: z.array(z.looseObject({ id: z.string() })).default([]),
  compatibility: CompatibilitySchema.default({}),
});

/**
 * Merges a user catalog (already parsed from JSON or YAML) over `base`. Errors name the path of the bad field, the
 * value found and what was expected, e.g. `models[1].baseVramGb: Too small: expected number to be >0 (received -3)`.
 */
export function mergeCatalog(base: Catalog, userCatalog: unknown, source = 'catalog'): Catalog {
  const file = parseOrThrow(CatalogFileSchema, userCatalog, source);
  const merged = new Map<string, unknown>(file.replaceDefaults ? [] : base.models.map((m) => [m.id, m]));
  const issues: ValidationIssue[] = [];
  const fromUser = new Map<string, number>();
  file.models.forEach((entry, index) => {
    const previous = merged.get(entry.id);
    const candidate = previous ? { ...(previous as object), ...entry } : entry;
    const result = ModelDescriptorSchema.safeParse(candidate, { reportInput: true });
    if (!result.success) {
      for (const issue of toValidationIssues(result.error)) {
        issues.push({ ...issue, field: formatPath(['models', index]) + (issue.field ? `.${issue.field}` : '') });
      }
      return;
    }
    if (fromUser.has(entry.id)) {
      issues.push({ field: `models[${index}].id`, problem: `duplicates models[${fromUser.get(entry.id)}]`, received: entry.id });
    }
    fromUser.set(entry.id, index);
    merged.set(entry.id, result.data);
  });
  if (issues.length) throw new ValidationError(source, issues);
  const compatibility: Record<string, Record<string, number>> = {};
  for (const [from, row] of Object.entries(file.replaceDefaults ? {} : base.compatibility)) compatibility[from] = { ...row };
  for (const [from, row] of Object.entries(file.compatibility)) compatibility[from] = { ...compatibility[from], ...row };
  return createCatalog([...merged.values()] as ModelDescriptor[], compatibility);
}

/** Parses catalog text in JSON or YAML (chosen by `format`), then merges it over `base`. */
export function parseCatalogText(text: string, format: 'json' | 'yaml', base: Catalog, source: string): Catalog {
  let data: unknown;
  try {
    data = format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ValidationError(source, [{ field: '', problem: `not valid ${format.toUpperCase()}: ${(error as Error).message}` }]);
  }
  return mergeCatalog(base, data ?? {}, source);
}
