/**
 * Everything a ComfyUI backend is built from, read and checked before it exists: the config, the catalog models it
 * may run, their workflow templates, the model folder map and the endpoint (URL split from its credentials).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MODELS, type ModelDescriptor } from '../../core/catalog.js';
import type { Clock } from '../../core/clock.js';
import { ValidationError, type ValidationIssue } from '../../core/validation.js';
import { DEFAULT_MODEL_FOLDERS, parseComfyUiConfig, type ComfyUiConfig, type ComfyUiConfigInput } from './comfyui-config.js';
import { resolveEndpoint, type ComfyUiEndpoint } from './comfyui-endpoint.js';
import { LOADER_FILE_INPUTS, loadWorkflowTemplate, type LoaderTable, type WorkflowTemplate } from './workflow-template.js';

/** What a ComfyUI backend needs besides its config. */
export interface ComfyUiBackendDependencies {
  /** Time limits, reconnection waits and event times run on this clock. */
  readonly clock: Clock;
  /** The catalog's models (default the three Wan2.2 models). */
  readonly models?: readonly ModelDescriptor[];
  /** Source of [0, 1) numbers for seeds of requests without one (default Math.random). */
  readonly random?: () => number;
  /** Where `{"env": NAME}` header values are read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A checked backend configuration with its templates loaded. */
export interface BackendSetup {
  readonly config: ComfyUiConfig;
  /** The catalog's models by id. */
  readonly models: ReadonlyMap<string, ModelDescriptor>;
  /** The template of each model this server runs. */
  readonly templates: ReadonlyMap<string, WorkflowTemplate>;
  /** First folder of catalog file paths → ComfyUI model folder. */
  readonly folders: Readonly<Record<string, string>>;
  readonly endpoint: ComfyUiEndpoint;
}

/**
 * Reads the config, loads the templates of the models the server runs and checks that every catalog file maps to a
 * ComfyUI folder.
 * @throws ValidationError naming the bad config field or template file (with the node and placeholder)
 */
export async function prepareBackend(config: ComfyUiConfigInput, dependencies: ComfyUiBackendDependencies): Promise<BackendSetup> {
    const parsed = parseComfyUiConfig(config);
    const catalog = dependencies.models ?? DEFAULT_MODELS;
    const byId = new Map(catalog.map((model) => [model.id, model]));
    const issues: ValidationIssue[] = [];
    const known = `one of ${[...byId.keys()].join(', ')}`;
    parsed.models?.forEach((id, index) => {
      if (!byId.has(id)) issues.push({ field: `models[${index}]`, problem: `expected a catalog model id, ${known}`, received: id });
    });
    for (const id of Object.keys(parsed.templates)) {
      if (!byId.has(id)) issues.push({ field: `templates.${id}`, problem: `expected a catalog model id as key, ${known}`, received: id });
    }
    if (issues.length > 0) throw new ValidationError('ComfyUI backend config', issues);

    const templates = new Map<string, WorkflowTemplate>();
    const loaders = loaderTable(parsed.loaders);
    for (const model of catalog) {
      const wanted = parsed.models?.includes(model.id) ?? true;
      if (!wanted) continue;
      const name = parsed.templates[model.id] ?? `${model.id}.json`;
      const own = parsed.userTemplatesDir === undefined ? undefined : join(parsed.userTemplatesDir, name);
      const file = own !== undefined && (await exists(own)) ? own : join(parsed.templatesDir, name);
      const explicit = parsed.models !== undefined || parsed.templates[model.id] !== undefined;
      if (!explicit && !(await exists(file))) continue;
      templates.set(model.id, await loadWorkflowTemplate(file, model, loaders));
    }
    if (templates.size === 0) {
      throw new ValidationError('ComfyUI backend config', [
        { field: 'templatesDir', problem: `expected a workflow template <model id>.json for at least one of ${[...byId.keys()].join(', ')}`, received: parsed.templatesDir },
      ]);
    }
    const folders = { ...DEFAULT_MODEL_FOLDERS, ...parsed.modelFolders };
    for (const model of catalog.filter((m) => templates.has(m.id))) {
      model.files.forEach((file, index) => {
        const first = file.path.split('/')[0] ?? '';
        if (!file.path.includes('/') || folders[first] === undefined) {
          issues.push({
            field: 'modelFolders',
            problem: `expected a ComfyUI folder for catalog file ${model.id} files[${index}] "${file.path}" (its first folder "${first}" is not in modelFolders: ${Object.keys(folders).join(', ')})`,
          });
        }
      });
    }
    if (issues.length > 0) throw new ValidationError('ComfyUI backend config', issues);
    const endpoint = resolveEndpoint(parsed.url, parsed.headers, dependencies.env ?? process.env);
    return { config: parsed, models: byId, templates, folders, endpoint };
}

/** The built-in loader table with the configured entries added (a configured input replaces the built-in one). */
function loaderTable(configured: ComfyUiConfig['loaders']): LoaderTable {
  const table: Record<string, Record<string, readonly string[]>> = {};
  for (const [classType, inputs] of Object.entries(LOADER_FILE_INPUTS)) table[classType] = { ...inputs };
  for (const [classType, inputs] of Object.entries(configured)) {
    for (const [input, folders] of Object.entries(inputs)) (table[classType] ??= {})[input] = typeof folders === 'string' ? [folders] : folders;
  }
  return table;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
