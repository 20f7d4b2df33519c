/**
 * Whether a ComfyUI server has the files a model needs, from GET /models/{folder} listings: the files its template's
 * loader nodes load (compared as written, as ComfyUI's validate_prompt compares a combo value, so `sub\x.safetensors`
 * on Windows) and the catalog's files (catalog paths use "/", so they match a listing with either separator).
 */
import type { ModelStatus } from '../../core/availability.js';
import type { ModelDescriptor } from '../../core/catalog.js';
import { GIB } from '../../core/estimates.js';
import type { WorkflowTemplate } from './workflow-template.js';

/** A model file to look for: the folders that may list it, and its name. */
export interface RequiredFile {
  readonly folders: readonly string[];
  readonly name: string;
  /** Compared as written (a loader input); else "\" in listings counts as "/" (a catalog path). */
  readonly exact: boolean;
  /** Size from the catalog, when it lists the file. */
  readonly sizeBytes?: number;
}

/** File names per folder as GET /models/{folder} lists them; null for a folder the server does not have. */
export type FolderListings = ReadonlyMap<string, readonly string[] | null>;

/** The files `model` needs: its template's loader files and the catalog's files, mapped through `folderMap`. */
export function requiredFiles(template: WorkflowTemplate | undefined, model: ModelDescriptor | undefined, folderMap: Readonly<Record<string, string>>): RequiredFile[] {
  const files = new Map<string, RequiredFile>();
  for (const file of template?.modelFiles ?? []) files.set(keyOf(file.folders[0] ?? '', file.name), { folders: file.folders, name: file.name, exact: true });
  for (const file of model?.files ?? []) {
    const [first = '', ...rest] = file.path.split('/');
    const folder = folderMap[first] ?? first;
    const name = rest.join('/');
    const key = keyOf(folder, name);
    const loaded = files.get(key);
    files.set(key, loaded ? { ...loaded, sizeBytes: file.sizeBytes } : { folders: [folder], name, exact: false, sizeBytes: file.sizeBytes });
  }
  return [...files.values()];
}

/** `available` when every file is listed, else `missing` naming the absent files and the folders the server lacks. */
export function modelStatus(modelId: string, model: ModelDescriptor | undefined, files: readonly RequiredFile[], listings: FolderListings, now: number): ModelStatus {
  const catalogBytes = model?.files.reduce((sum, file) => sum + file.sizeBytes, 0) ?? 0;
  const bytesTotal = catalogBytes > 0 ? catalogBytes : Math.round((model?.sizeGb ?? 0) * GIB);
  const absent = files.filter((file) => !isListed(file, listings));
  if (absent.length === 0) return { modelId, status: 'available', bytesPresent: bytesTotal, bytesTotal, updatedAt: now };
  const presentBytes = files.filter((file) => !absent.includes(file)).reduce((sum, file) => sum + (file.sizeBytes ?? 0), 0);
  const named = absent.map((file) => {
    const where = file.folders.map((folder) => `${folder}/${file.name}`).join(' or ');
    const lacking = file.folders.filter((folder) => listings.get(folder) === null);
    if (lacking.length < file.folders.length) return where;
    const hint = lacking.some((folder) => folder.endsWith('_gguf')) ? '; is the ComfyUI-GGUF node pack installed?' : '';
    return `${where} (this ComfyUI has no ${lacking.map((folder) => `"${folder}"`).join(' or ')} folder${hint})`;
  });
  return { modelId, status: 'missing', bytesPresent: presentBytes, bytesTotal, detail: `not in ComfyUI's model folders: ${named.join(', ')}`, updatedAt: now };
}

function isListed(file: RequiredFile, listings: FolderListings): boolean {
  return file.folders.some((folder) => {
    const names = listings.get(folder);
    if (!names) return false;
    return file.exact ? names.includes(file.name) : names.some((name) => name.replaceAll('\\', '/') === file.name);
  });
}

function keyOf(folder: string, name: string): string {
  return `${folder}/${name.replaceAll('\\', '/')}`;
}
