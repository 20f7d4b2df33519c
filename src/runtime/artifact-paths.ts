import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * Where input images and outputs live: one root directory (the data dir by default, a shared mount when gateways and
 * workers run on several machines). Job records hold paths relative to the root, never one machine's absolute path,
 * so that every process that mounts the root at its own place reads the same files.
 */
export class ArtifactPaths {
  /** The root, absolute. */
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Where input images are written. */
  get inputDir(): string {
    return join(this.root, 'inputs');
  }

  /** Where outputs are written. */
  get outputDir(): string {
    return join(this.root, 'outputs');
  }

  /** The form of `path` kept in a job record: relative to the root when it lies inside it, else as it is. */
  toStored(path: string): string {
    const inside = relative(this.root, resolve(path));
    return inside !== '' && !inside.startsWith(`..${sep}`) && inside !== '..' && !isAbsolute(inside) ? inside.split(sep).join('/') : path;
  }

  /** The path on this machine of a path from a job record (absolute ones, from records written before, stay as they are). */
  toLocal(stored: string): string {
    return isAbsolute(stored) ? stored : join(this.root, stored);
  }
}
