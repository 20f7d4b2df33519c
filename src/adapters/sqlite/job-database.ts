import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import type { Job, TimelineEntry } from '../../runtime/job.js';
import { JobNotFoundError } from '../../runtime/job-store.js';
import { attempt, BatchedWrites, type BatchOutcome } from './batched-writes.js';
import { GroupSync } from './group-sync.js';
import { timelineEntryOf, toJob, type JobRow, type TimelineRow } from './job-rows.js';
import { prepareJobStatements, type JobStatements } from './job-statements.js';
import { isBusyError, LOCK_SPIN_MS, retryWhileLocked } from './lock-retry.js';
import { LogFileSync, type FileSync } from './log-file-sync.js';
import { migrate } from './migrations.js';

/** How to open a {@link JobDatabase}. */
export interface JobDatabaseOptions {
  path: string;
  agingSeconds: number;
  lockWaitMs: number;
  lockClock: Clock;
  syncLog?: FileSync;
}

/**
 * The job store's SQLite connection: WAL journaling, migrations, prepared statements, and transactions that wait
 * for another process's lock without blocking the event loop. Durable changes are a pipelined group commit: the
 * changes of a turn commit in one transaction (see {@link BatchedWrites}) and resolve once a sync of the log that
 * started after that commit is done, shared with every other commit made meanwhile (see {@link GroupSync}); the next
 * turn's changes commit while it runs. Every transaction of this connection first commits the durable changes asked
 * for before it, so that it sees them and follows them, as if each had committed when asked. Also reads rows back as
 * jobs.
 */
export class JobDatabase {
  /** The prepared statements. */
  readonly sql: JobStatements;
  private readonly db: Database.Database;
  private readonly runInTransaction: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly logSync: GroupSync;
  private readonly durableWrites: BatchedWrites<() => unknown>;
  private readonly commitsScheduled = { soon: false, turn: false };
  private readonly logFile: LogFileSync | undefined;
  private readonly lockClock: Clock;
  private readonly lockWaitMs: number;

  constructor(options: JobDatabaseOptions) {
    this.lockClock = options.lockClock;
    this.lockWaitMs = options.lockWaitMs;
    mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      // WAL: readers never block the writer, and a commit is one append to the log.
      const mode = this.db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (mode !== 'wal') throw new Error(`job database ${options.path} cannot use WAL journaling (got ${mode})`);
      // NORMAL: a commit appends to the log without syncing it; write() then syncs the log, grouped (see above).
      this.db.pragma('synchronous = NORMAL');
      // Other processes (a worker, a second gateway) may hold the write lock briefly: opening and migrating wait for
      // it here; afterwards SQLite waits only LOCK_SPIN_MS per try and the store retries on a timer (see lock-retry).
      this.db.pragma(`busy_timeout = ${options.lockWaitMs}`);
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
      this.db.pragma(`busy_timeout = ${LOCK_SPIN_MS}`);
      this.runInTransaction = this.db.transaction((fn: () => unknown) => fn());
      this.sql = prepareJobStatements(this.db, options.agingSeconds);
      const logPath = `${options.path}-wal`;
      const syncLog = options.syncLog;
      this.logFile = syncLog ? undefined : new LogFileSync(logPath);
      this.logSync = new GroupSync(syncLog ? () => syncLog(logPath) : (this.logFile as LogFileSync).sync);
      this.durableWrites = new BatchedWrites(() => this.logSync.flush());
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** Resolves once every commit so far is synced to disk. */
  flush(): Promise<void> {
    return this.logSync.flush();
  }

  /** Waits for pending changes and syncs (the last connection's close removes the log), then closes the database. */
  async close(): Promise<void> {
    await this.commitPending().catch(() => undefined);
    await this.durableWrites.drained();
    await this.logSync.flush().catch(() => undefined);
    await this.logFile?.close();
    this.db.close();
  }

  /**
   * Runs `fn` in an immediate (write-locking) transaction, so that changes by two processes cannot interleave,
   * together with the other changes asked for meanwhile, each in its own savepoint: a change that throws is rolled
   * back alone and rejects with its error. The transaction runs once the calling code yields (after its pending
   * promise callbacks), or with `batchWithTurn` on the next turn of the event loop, gathering every change asked for
   * during this one (e.g. by concurrent requests); in either case earlier if another transaction of this connection
   * comes first. Resolves once the commit is synced to disk; a failure of the commit or the sync rejects every change
   * of the batch.
   */
  write<T>(fn: () => T, options: { batchWithTurn?: boolean } = {}): Promise<T> {
    const written = this.durableWrites.add<T>(fn);
    this.scheduleCommit(options.batchWithTurn ? 'turn' : 'soon');
    return written;
  }

  /**
   * Like {@link JobDatabase.write}, but returns as soon as the transaction committed, unsynced: safe against a process crash,
   * while a power cut may lose it. Used only for claims, lease renewals and progress. A power cut stops every worker
   * on this machine, so such a loss leaves a job queued (claim lost) or with an older lease (renewal lost) whose
   * worker is gone anyway: exactly what the queue and recoverLapsedLeases handle. The log is sequential, so the next
   * synced change carries these along, and nothing synced ever depends on something lost.
   */
  writeRelaxed<T>(fn: () => T): Promise<T> {
    return retryWhileLocked(() => this.transact(fn), this.lockClock, this.lockWaitMs);
  }

  /** Runs `fn` in a read transaction: one consistent snapshot across its queries. */
  read<T>(fn: () => T): Promise<T> {
    return retryWhileLocked(
      () => {
        if (this.durableWrites.waiting) this.commitUnlessLocked();
        return this.runInTransaction.deferred(fn) as T;
      },
      this.lockClock,
      this.lockWaitMs,
    );
  }

  /** Commits the durable changes waiting, unless another process holds the write lock: a read never waits for it. */
  private commitUnlessLocked(): void {
    try {
      this.transact(() => undefined);
    } catch (error) {
      if (!isBusyError(error)) throw error;
    }
  }

  private scheduleCommit(when: 'soon' | 'turn'): void {
    if (this.commitsScheduled[when]) return;
    this.commitsScheduled[when] = true;
    const commit = (): void => {
      this.commitsScheduled[when] = false;
      void this.commitPending().catch(() => undefined);
    };
    if (when === 'turn') setImmediate(commit);
    else queueMicrotask(commit);
  }

  /**
   * Commits the durable changes waiting, if any. When that fails for good (another process kept the lock for
   * lockWaitMs), the changes that waited all along are refused with the error; later ones get their own try.
   */
  private async commitPending(): Promise<void> {
    const waited = this.durableWrites.waiting;
    if (waited === 0) return;
    try {
      await this.writeRelaxed(() => undefined);
    } catch (error) {
      this.durableWrites.failed(this.durableWrites.take(waited), error);
      if (this.durableWrites.waiting > 0) this.scheduleCommit('turn');
      throw error;
    }
  }

  /**
   * One immediate transaction: the durable changes waiting, then `fn`, each in its own savepoint (a transaction
   * function called inside a transaction runs in one), so that one that throws is rolled back alone. The changes are
   * taken once the write lock is held: a lock refused leaves them waiting for the next try.
   */
  private transact<T>(fn: () => T): T {
    let batch: ReturnType<BatchedWrites<() => unknown>['take']> = [];
    let outcomes: Array<BatchOutcome<unknown>> = [];
    let own: BatchOutcome<T>;
    try {
      own = this.runInTransaction.immediate(() => {
        batch = this.durableWrites.take();
        outcomes = batch.map(({ item }) => attempt(() => this.runInTransaction(item)));
        return attempt(() => this.runInTransaction(fn) as T);
      }) as BatchOutcome<T>;
    } catch (error) {
      this.durableWrites.failed(batch, error);
      throw error;
    }
    this.durableWrites.committed(batch, outcomes);
    if ('error' in own) throw own.error;
    return own.value;
  }

  requireRow(id: string): JobRow {
    const row = this.sql.selectById.get(id) as JobRow | undefined;
    if (!row) throw new JobNotFoundError(id);
    return row;
  }

  rowAt(seq: number): JobRow {
    return this.sql.selectBySeq.get(seq) as JobRow;
  }

  jobAt(seq: number): Job {
    return this.toJobs([this.rowAt(seq)])[0] as Job;
  }

  /** Adds timeline entries and returns them as they read back (their data through JSON). */
  addTimeline(seq: number, entries: readonly TimelineEntry[]): TimelineEntry[] {
    return entries.map(({ at, kind, message, data }) => {
      const json = data === undefined ? null : JSON.stringify(data);
      this.sql.insertTimeline.run({ seq, at, kind, message, data: json });
      return timelineEntryOf({ job_seq: seq, at, kind, message, data: json });
    });
  }

  /** Turns rows into jobs, reading all their timelines in one query. */
  toJobs(rows: readonly JobRow[]): Job[] {
    if (rows.length === 0) return [];
    const timelines = new Map<number, TimelineEntry[]>();
    for (const t of this.sql.timelines.all({ seqs: JSON.stringify(rows.map((r) => r.seq)) }) as TimelineRow[]) {
      const list = timelines.get(t.job_seq);
      if (list) list.push(timelineEntryOf(t));
      else timelines.set(t.job_seq, [timelineEntryOf(t)]);
    }
    return rows.map((row) => toJob(row, timelines.get(row.seq) ?? []));
  }
}
