import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { sha256File, type FileHasher } from './file-digest.js';

/** What identifies one version of a file without reading it. */
export interface FileIdentity {
  readonly size: number;
  readonly mtimeMs: number;
}

const DigestEntrySchema = z.object({
  size: z.number().int().nonnegative(),
  mtimeMs: z.number(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
});
type DigestEntry = z.infer<typeof DigestEntrySchema>;

const DigestFileSchema = z.object({
  version: z.literal(1),
  entries: z.record(z.string(), DigestEntrySchema),
});

/** A digest with whether it came from the cache. */
export interface CachedDigest {
  readonly sha256: string;
  /** True when the file was not read. */
  readonly cached: boolean;
}

/**
 * sha256 digests of files keyed by absolute path, size and modification time, so an unchanged multi-gigabyte model
 * is hashed once. Optionally persisted as JSON (`{ version: 1, entries: { [path]: { size, mtimeMs, sha256 } } }`);
 * an unreadable or malformed file starts an empty cache, since every entry can be recomputed.
 */
export class DigestCache {
  private readonly entries: Map<string, DigestEntry>;
  private persisting: Promise<void> = Promise.resolve();
  private writes = 0;

  private constructor(
    /** The JSON file the cache is saved to, or undefined for a cache kept in memory only. */
    readonly file: string | undefined,
    entries: Iterable<[string, DigestEntry]>,
  ) {
    this.entries = new Map(entries);
  }

  /** A cache kept in memory only. */
  static inMemory(): DigestCache {
    return new DigestCache(undefined, []);
  }

  /** Loads the cache saved in `file` (a missing or malformed file gives an empty cache). */
  static async open(file: string): Promise<DigestCache> {
    let entries: [string, DigestEntry][] = [];
    try {
      const parsed = DigestFileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      if (parsed.success) entries = Object.entries(parsed.data.entries);
    } catch (error) {
      if (!(error instanceof SyntaxError) && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return new DigestCache(file, entries);
  }

  /** The cached digest of `absolutePath` when the file still has the size and mtime it had when hashed. */
  get(absolutePath: string, identity: FileIdentity): string | undefined {
    const entry = this.entries.get(absolutePath);
    return entry && entry.size === identity.size && entry.mtimeMs === identity.mtimeMs ? entry.sha256 : undefined;
  }

  /** Remembers a digest and saves the cache file (writes are serialised, each atomic by rename). */
  async record(absolutePath: string, identity: FileIdentity, sha256: string): Promise<void> {
    this.entries.set(absolutePath, { size: identity.size, mtimeMs: identity.mtimeMs, sha256 });
    await this.save();
  }

  /** Forgets a path (e.g. a deleted file) and saves. */
  async forget(absolutePath: string): Promise<void> {
    if (this.entries.delete(absolutePath)) await this.save();
  }

  /**
   * The digest of a file: from the cache when size and mtime match, otherwise computed with `hasher` and recorded
   * (only when the file did not change while being read).
   */
  async digestOf(absolutePath: string, hasher: FileHasher = sha256File, signal?: AbortSignal): Promise<CachedDigest> {
    const before = await stat(absolutePath);
    const known = this.get(absolutePath, before);
    if (known !== undefined) return { sha256: known, cached: true };
    const sha256 = await hasher(absolutePath, signal);
    const after = await stat(absolutePath);
    if (after.size === before.size && after.mtimeMs === before.mtimeMs) await this.record(absolutePath, after, sha256);
    return { sha256, cached: false };
  }

  private save(): Promise<void> {
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    const write = async (): Promise<void> => {
      const data = { version: 1, entries: Object.fromEntries(this.entries) };
      const temporary = `${file}.${process.pid}.${++this.writes}.tmp`;
      await mkdir(dirname(file), { recursive: true });
      await writeFile(temporary, JSON.stringify(data, null, 2));
      await rename(temporary, file);
    };
    this.persisting = this.persisting.then(write, write);
    return this.persisting;
  }
}
