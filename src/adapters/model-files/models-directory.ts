import { lstat, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../../core/validation.js';
import { ModelPathError } from './download-errors.js';
import { ifExists } from './if-exists.js';

/** Suffix of a file being downloaded next to its final name. */
export const PARTIAL_SUFFIX = '.part';

/**
 * Where catalog paths land under the models directory. A catalog path's first segment is looked up in
 * `subfolders`; when found it is replaced by the mapped folder, otherwise the path is used as is.
 */
export interface ModelsLayout {
  /** Short name, e.g. `comfyui`. */
  readonly name: string;
  /** First catalog path segment → folder relative to the models directory. */
  readonly subfolders: Readonly<Record<string, string>>;
}

/** Catalog paths are used as they are: `vae/wan.safetensors` → `<root>/vae/wan.safetensors`. */
export const FLAT_LAYOUT: ModelsLayout = { name: 'flat', subfolders: {} };

/**
 * ComfyUI's layout, with the models directory set to the ComfyUI installation:
 * `diffusion_models/x.safetensors` → `<root>/models/diffusion_models/x.safetensors`.
 */
export const COMFYUI_LAYOUT: ModelsLayout = {
  name: 'comfyui',
  subfolders: {
    diffusion_models: 'models/diffusion_models',
    vae: 'models/vae',
    text_encoders: 'models/text_encoders',
    clip_vision: 'models/clip_vision',
    loras: 'models/loras',
    checkpoints: 'models/checkpoints',
  },
};

/** Built-in layouts by name. */
export const MODEL_LAYOUTS = { flat: FLAT_LAYOUT, comfyui: COMFYUI_LAYOUT } as const;

/** Problem with a relative path, or undefined when it is a clean relative path with "/" separators. */
function relativePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'expected a non-empty path';
  if (path.includes('\0')) return 'expected no NUL character';
  if (path.includes('\\')) return 'expected "/" as separator, not "\\"';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || isAbsolute(path)) return 'expected a relative path, not an absolute one';
  const segments = path.split('/');
  if (segments.includes('..')) return 'expected no ".." segment';
  if (segments.some((s) => s === '' || s === '.')) return 'expected no empty or "." segment';
  return undefined;
}

const RelativeFolderSchema = z.string().superRefine((value, ctx) => {
  const problem = relativePathProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Options of {@link ModelsDirectory}. */
export const ModelsDirectoryOptionsSchema = z.strictObject({
  /** The models directory; relative paths resolve against the working directory. */
  root: z.string().min(1),
  /** A built-in layout name or a custom layout. Default `flat`. */
  layout: z
    .union([
      z.enum(['flat', 'comfyui']),
      z.strictObject({ name: z.string().min(1), subfolders: z.record(z.string(), RelativeFolderSchema) }),
    ])
    .default('flat'),
});
export type ModelsDirectoryOptions = z.input<typeof ModelsDirectoryOptionsSchema>;

/** A catalog file located on disk, checked to stay inside the models directory. */
export interface ResolvedModelFile {
  /** The path as the catalog writes it. */
  readonly catalogPath: string;
  /** Absolute path of the finished file. */
  readonly absolutePath: string;
  /** Absolute path of the partial download (`<name>.part`). */
  readonly partPath: string;
}

/**
 * The directory that holds model files, with its layout. Resolving a catalog path never yields a location outside
 * the directory: `..`, absolute paths and symbolic links that lead out are rejected with a {@link ModelPathError}.
 */
export class ModelsDirectory {
  /** Absolute path of the models directory. */
  readonly root: string;
  readonly layout: ModelsLayout;

  constructor(options: ModelsDirectoryOptions) {
    const parsed = parseOrThrow(ModelsDirectoryOptionsSchema, options, 'models directory options');
    this.root = resolve(parsed.root);
    this.layout = typeof parsed.layout === 'string' ? MODEL_LAYOUTS[parsed.layout] : parsed.layout;
  }

  /** Absolute path of `catalogPath` by its text alone (no disk access). Throws {@link ModelPathError}. */
  locate(catalogPath: string): string {
    const problem = relativePathProblem(catalogPath);
    if (problem) throw new ModelPathError(catalogPath, problem);
    if (catalogPath.endsWith(PARTIAL_SUFFIX)) {
      throw new ModelPathError(catalogPath, `expected a name not ending in "${PARTIAL_SUFFIX}" (reserved for partial downloads)`);
    }
    const [first, ...rest] = catalogPath.split('/');
    const mapped = first !== undefined && rest.length > 0 ? this.layout.subfolders[first] : undefined;
    const absolute = resolve(this.root, mapped === undefined ? catalogPath : join(mapped, ...rest));
    if (!isInside(this.root, absolute)) throw new ModelPathError(catalogPath, `resolves outside the models directory ${this.root}`);
    return absolute;
  }

  /**
   * Locates `catalogPath` and checks the disk: the deepest existing ancestor of the file, the file itself and its
   * partial download must all lead (after following symbolic links) inside the models directory.
   */
  async resolve(catalogPath: string): Promise<ResolvedModelFile> {
    const absolutePath = this.locate(catalogPath);
    const partPath = absolutePath + PARTIAL_SUFFIX;
    const realRoot = (await ifExists(realpath(this.root))) ?? this.root;
    for (const candidate of [absolutePath, partPath]) {
      const existing = await deepestExisting(candidate, this.root);
      if (existing === undefined) continue;
      const real = await ifExists(realpath(existing));
      if (real === undefined) throw new ModelPathError(catalogPath, `${existing} is a symbolic link to nothing`);
      if (!isInside(realRoot, real) && real !== realRoot) {
        throw new ModelPathError(catalogPath, `${existing} leads to ${real}, outside the models directory ${realRoot}`);
      }
    }
    return { catalogPath, absolutePath, partPath };
  }
}

/** Whether `child` lies strictly inside `parent` (both absolute and normalised). */
function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/** The deepest of `path` and its ancestors below `root` that exists (symbolic links are not followed), if any. */
async function deepestExisting(path: string, root: string): Promise<string | undefined> {
  for (let current = path; current !== root && isInside(root, current); current = dirname(current)) {
    try {
      await lstat(current);
      return current;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
  }
  return undefined;
}
