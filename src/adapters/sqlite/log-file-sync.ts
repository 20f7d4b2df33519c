import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Flushes a file's written data to stable storage. */
export type FileSync = (path: string) => Promise<void>;

/**
 * The default log sync: `fdatasync` of the file through a handle kept open between syncs (each open and close is a
 * round trip through the thread pool), and of its folder the first time, so that a new log's directory entry is
 * durable too. The handle is opened after the first commit, when SQLite has created the log, which stays while the
 * store's connection is open.
 */
export class LogFileSync {
  private handle: Promise<FileHandle> | undefined;

  constructor(private readonly path: string) {}

  /** Syncs the log's data (and, the first time, its folder). */
  readonly sync = async (): Promise<void> => {
    this.handle ??= this.open().catch((error: unknown) => {
      this.handle = undefined;
      throw error;
    });
    await (await this.handle).datasync();
  };

  /** Closes the kept handle. */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await (await handle).close();
  }

  private async open(): Promise<FileHandle> {
    const folder = await open(dirname(this.path), 'r');
    await folder.sync().finally(() => folder.close());
    return open(this.path, 'r');
  }
}
