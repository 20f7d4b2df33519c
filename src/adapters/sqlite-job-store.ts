import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { v7 as timeOrderedUuid } from 'uuid';
import type { Clock } from '../core/clock.js';
import { formatBytes, formatDuration } from '../core/estimates.js';
import { effectiveRank, laneAhead } from '../core/queue-ordering.js';
import { PRIORITIES, priorityRank, type Priority } from '../core/vocabulary.js';
import {
  JOB_STATES,
  WAITING_JOB_STATES,
  isTerminalJobState,
  type Job,
  type JobError,
  type JobLease,
  type JobOutput,
  type JobRequest,
  type JobState,
  type NewJob,
  type TimelineEntry,
  type TimelineKind,
} from '../runtime/job.js';
import {
  InvalidCursorError,
  InvalidTransitionError,
  JOB_STORE_DEFAULTS,
  JobAlreadyExistsError,
  JobNotFoundError,
  LeaseLostError,
  type ClaimOptions,
  type ExpireOptions,
  type FailOptions,
  type JobPage,
  type JobStore,
  type JobStoreOptions,
  type ListOptions,
  type ModelQueueCounts,
  type QueueOrderOptions,
  type QueueSnapshot,
  type WaitForModelOptions,
} from '../runtime/job-store.js';
import { QueueFullError } from '../runtime/request-queue.js';
import { SystemClock, sleep } from '../runtime/clocks.js';
import { GroupSync } from './group-sync.js';
import { migrate } from './sqlite-migrations.js';

/** Flushes a file's written data to stable storage. */
export type FileSync = (path: string) => Promise<void>;

/** Options of {@link SqliteJobStore}. */
export interface SqliteJobStoreOptions extends JobStoreOptions {
  /** The database file; its folder is created when missing. */
  path: string;
  /** Syncs the write-ahead log (`<path>-wal`) before a durable change resolves. Default: `fdatasync` of the log. */
  syncLog?: FileSync;
  /**
   * How long a read or change waits for another process that holds the database locked before it fails with
   * `SQLITE_BUSY`, ms on `lockClock`. Default 5000. The event loop keeps turning meanwhile: SQLite itself waits at
   * most {@link LOCK_SPIN_MS} per try, then the store tries again after a pause on `lockClock`.
   */
  lockWaitMs?: number;
  /**
   * The clock lock waits are timed on. Default: the system clock, whatever `clock` is, since the lock is held by
   * another process in real time.
   */
  lockClock?: Clock;
}

/** The longest SQLite blocks the event loop on a lock held by another process, per try, ms. */
export const LOCK_SPIN_MS = 10;

/** Longest pause between two tries at a lock held by another process, ms (the pause doubles from 1 ms). */
const LOCK_RETRY_MAX_PAUSE_MS = 50;

/** SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * The default log sync: `fdatasync` of the file through a handle kept open between syncs (each open and close is a
 * round trip through the thread pool), and of its folder the first time, so that a new log's directory entry is
 * durable too. The handle is opened after the first commit, when SQLite has created the log, which stays while the
 * store's connection is open.
 */
class LogFileSync {
  private handle: Promise<FileHandle> | undefined;

  constructor(private readonly path: string) {}

  readonly sync = async (): Promise<void> => {
    this.handle ??= this.open().catch((error: unknown) => {
      this.handle = undefined;
      throw error;
    });
    await (await this.handle).datasync();
  };

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

/** An enqueue waiting for the next batch; see {@link SqliteJobStore.enqueue}. */
interface PendingEnqueue {
  newJob: NewJob;
  at: number;
  resolve: (job: Job) => void;
  reject: (error: unknown) => void;
}

/** A row of the `jobs` table. */
interface JobRow {
  seq: number;
  id: string;
  status: JobState;
  priority_rank: number;
  model_used: string;
  waiting_for: string | null;
  created_at: number;
  updated_at: number;
  deadline: number | null;
  attempts: number;
  max_attempts: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  progress: number;
  progress_message: string | null;
  body: string;
  output: string | null;
  error: string | null;
}

/** The JSON `body` column: what is read with the job but never queried. */
interface JobBody {
  requestedModel: string;
  request: JobRequest;
  plan: Job['plan'];
  parentJobId?: string;
  hybridOf?: string;
}

interface TimelineRow {
  job_seq: number;
  at: number;
  kind: TimelineKind;
  message: string;
  data: string | null;
}

/** A job considered by claimNext, with its priority after aging. */
interface Candidate {
  seq: number;
  model_used: string;
  eff_rank: number;
}

/**
 * The job store on an embedded SQLite file, shared by the gateway and workers of one machine (several processes may
 * open the same file). Every change runs in an immediate transaction and is on disk when its promise resolves, except
 * claims, lease renewals and progress, which survive a process crash but not a power cut (see writeRelaxed).
 *
 * Durability is a group commit: transactions commit to the write-ahead log without a sync (`synchronous = NORMAL`),
 * then a durable change waits for an `fdatasync` of the log, off the event loop and shared by every change that
 * committed meanwhile (see {@link GroupSync}). So many concurrent submits cost one or two syncs, not one each, and
 * the event loop never blocks on the disk. SQLite itself still syncs the log before each checkpoint and the database
 * after it.
 */
export class SqliteJobStore implements JobStore {
  readonly maxQueueSize: number;
  private readonly clock: Clock;
  private readonly agingSeconds: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly retentionMs: number;
  private readonly retryAfterSeconds: number;
  private readonly lockWaitMs: number;
  private readonly lockClock: Clock;
  private readonly db: Database.Database;
  private readonly runInTransaction: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly sql: ReturnType<SqliteJobStore['prepare']>;
  private readonly logSync: GroupSync;
  private readonly logFile: LogFileSync | undefined;
  private pendingEnqueues: PendingEnqueue[] = [];
  private enqueueBatch: 'idle' | 'scheduled' | 'storing' = 'idle';

  constructor(options: SqliteJobStoreOptions) {
    this.clock = options.clock;
    this.maxQueueSize = options.maxQueueSize ?? JOB_STORE_DEFAULTS.maxQueueSize;
    this.agingSeconds = options.agingSeconds ?? JOB_STORE_DEFAULTS.agingSeconds;
    this.leaseMs = options.leaseMs ?? JOB_STORE_DEFAULTS.leaseMs;
    this.maxAttempts = options.maxAttempts ?? JOB_STORE_DEFAULTS.maxAttempts;
    this.retentionMs = options.retentionMs ?? JOB_STORE_DEFAULTS.retentionMs;
    this.retryAfterSeconds = options.retryAfterSeconds ?? JOB_STORE_DEFAULTS.retryAfterSeconds;
    this.lockWaitMs = options.lockWaitMs ?? 5000;
    this.lockClock = options.lockClock ?? new SystemClock();
    requirePositiveInteger(this.maxQueueSize, 'maxQueueSize');
    requirePositiveInteger(this.maxAttempts, 'maxAttempts');

    mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    try {
      // WAL: readers never block the writer, and a commit is one append to the log.
      const mode = this.db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (mode !== 'wal') throw new Error(`job database ${options.path} cannot use WAL journaling (got ${mode})`);
      // NORMAL: a commit appends to the log without syncing it; write() then syncs the log, grouped (see above).
      this.db.pragma('synchronous = NORMAL');
      // Other processes (a worker, a second gateway) may hold the write lock briefly: opening and migrating wait for
      // it here; afterwards SQLite waits only LOCK_SPIN_MS per try and the store retries on a timer (see locked).
      this.db.pragma(`busy_timeout = ${this.lockWaitMs}`);
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
      this.db.pragma(`busy_timeout = ${LOCK_SPIN_MS}`);
      this.runInTransaction = this.db.transaction((fn: () => unknown) => fn());
      this.sql = this.prepare();
      const logPath = `${options.path}-wal`;
      const syncLog = options.syncLog;
      this.logFile = syncLog ? undefined : new LogFileSync(logPath);
      this.logSync = new GroupSync(syncLog ? () => syncLog(logPath) : (this.logFile as LogFileSync).sync);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /**
   * Group commit: enqueues are gathered and stored together, one transaction and one sync per batch, one batch at a
   * time. A batch is stored on the turn of the event loop after its first enqueue, or, while the previous batch is
   * still syncing, as soon as that sync ends: so the busier the store, the larger the batches, and no enqueue waits
   * longer than the sync in progress plus its own. A job refused by a check (full queue, taken id) is refused before it
   * writes anything, so it does not affect the others; a failure of SQLite itself rolls the whole batch back and
   * rejects every job in it.
   */
  async enqueue(newJob: NewJob): Promise<Job> {
    const at = newJob.acceptedAt ?? this.clock.now();
    return new Promise<Job>((resolve, reject) => {
      this.pendingEnqueues.push({ newJob, at, resolve, reject });
      this.scheduleEnqueueBatch();
    });
  }

  private scheduleEnqueueBatch(): void {
    if (this.enqueueBatch !== 'idle' || this.pendingEnqueues.length === 0) return;
    this.enqueueBatch = 'scheduled';
    setImmediate(() => void this.storePendingEnqueues());
  }

  /**
   * Stores the enqueues gathered so far as one batch; see {@link enqueue}. The next batch may be written as soon as
   * this one has committed, while this one's sync runs: its own sync then starts after its write (GroupSync), so
   * every job is still acknowledged only once it is on stable storage, and writes and syncs overlap under load.
   */
  private async storePendingEnqueues(): Promise<void> {
    this.enqueueBatch = 'storing';
    const batch = this.pendingEnqueues;
    this.pendingEnqueues = [];
    let outcomes: Array<{ job: Job } | { error: unknown }>;
    try {
      outcomes = await this.insertBatch(batch);
    } catch (error) {
      for (const { reject } of batch) reject(error);
      return;
    } finally {
      this.enqueueBatch = 'idle';
      this.scheduleEnqueueBatch();
    }
    await this.acknowledgeBatch(batch, outcomes);
  }

  /** Writes every insertable job of the batch in one transaction; a refused job writes nothing and keeps its error. */
  private insertBatch(batch: PendingEnqueue[]): Promise<Array<{ job: Job } | { error: unknown }>> {
    return this.writeRelaxed(() =>
      batch.map(({ newJob, at }) => {
        try {
          this.checkInsertable(newJob);
        } catch (error) {
          return { error };
        }
        return { job: this.insertJob(newJob, at) };
      }),
    );
  }

  /** Settles each enqueue of a committed batch: accepted jobs once the log holding them is synced. */
  private async acknowledgeBatch(batch: PendingEnqueue[], outcomes: Array<{ job: Job } | { error: unknown }>): Promise<void> {
    let sync: { failed: false } | { failed: true; error: unknown } = { failed: false };
    if (outcomes.some((o) => 'job' in o)) {
      await this.logSync.flush().catch((error: unknown) => (sync = { failed: true, error }));
    }
    outcomes.forEach((outcome, i) => {
      const { resolve, reject } = batch[i] as PendingEnqueue;
      if (!('job' in outcome)) reject(outcome.error);
      else if (sync.failed) reject(sync.error);
      else resolve(outcome.job);
    });
  }

  /** Throws, having written nothing, when the job cannot be accepted: the queue is full, its id is taken, bad options. */
  private checkInsertable(newJob: NewJob): void {
    const waiting = this.waitingCount();
    if (waiting >= this.maxQueueSize) throw new QueueFullError(waiting, this.maxQueueSize, this.retryAfterSeconds);
    if (newJob.id !== undefined && this.sql.selectById.get(newJob.id)) throw new JobAlreadyExistsError(newJob.id);
    requirePositiveInteger(newJob.maxAttempts ?? this.maxAttempts, 'maxAttempts');
  }

  /** Inserts a job that passed {@link checkInsertable}, with its first timeline entries; returns it as it reads back. */
  private insertJob(newJob: NewJob, at: number): Job {
    // Time-ordered (UUIDv7): a new id goes at the end of the id index instead of a random page of it, which halved
    // the system time of an enqueue here and keeps inserts cheap as the table grows past the page cache.
    const id = newJob.id ?? timeOrderedUuid();
    const maxAttempts = newJob.maxAttempts ?? this.maxAttempts;

    const requirements = newJob.request.requirements;
    const deadline =
      newJob.deadline !== undefined
        ? newJob.deadline
        : requirements.maxWaitSeconds !== undefined
          ? at + Math.round(requirements.maxWaitSeconds * 1000)
          : null;
    const modelUsed = newJob.modelUsed ?? newJob.plan.model;
    const status = newJob.initialState ?? 'queued';
    const waitingFor = status === 'waiting_for_model' ? (newJob.waitingFor ?? modelUsed) : null;
    const body: JobBody = { requestedModel: requirements.modelType, request: newJob.request, plan: newJob.plan };
    if (newJob.parentJobId !== undefined) body.parentJobId = newJob.parentJobId;
    if (newJob.hybridOf !== undefined) body.hybridOf = newJob.hybridOf;

    const inserted = {
      id,
      status,
      priority_rank: priorityRank(requirements.priority),
      model_used: modelUsed,
      waiting_for: waitingFor,
      created_at: at,
      updated_at: at,
      deadline,
      max_attempts: maxAttempts,
      body: JSON.stringify(body),
    };
    const seq = Number(this.sql.insertJob.run(inserted).lastInsertRowid);
    const limit = deadline === null ? '' : `; must start by ${new Date(deadline).toISOString()}`;
    const timeline = [
      this.addTimeline(seq, at, 'accepted', `accepted for ${requirements.modelType} at ${requirements.priority} priority${limit}`, {
        requestedModel: requirements.modelType,
        priority: requirements.priority,
        deadline,
      }),
      this.addTimeline(seq, at, 'planned', `${newJob.plan.strategyType}: ${newJob.plan.userMessage}`, {
        strategyType: newJob.plan.strategyType,
        model: newJob.plan.model,
        confidence: newJob.plan.confidence,
        estimatedSeconds: newJob.plan.estimatedSeconds,
      }),
      waitingFor === null
        ? this.addTimeline(seq, at, 'queued', `queued for ${modelUsed}`)
        : this.addTimeline(seq, at, 'waiting_for_model', `waiting for ${waitingFor} to become ready`, { modelId: waitingFor }),
    ];
    const row: JobRow = {
      ...inserted,
      seq,
      attempts: 0,
      lease_owner: null,
      lease_expires_at: null,
      progress: 0,
      progress_message: null,
      output: null,
      error: null,
    };
    return toJob(row, timeline);
  }

  async get(id: string): Promise<Job | null> {
    return this.read(() => {
      const row = this.sql.selectById.get(id) as JobRow | undefined;
      return row ? this.toJobs([row])[0] ?? null : null;
    });
  }

  async list(options: ListOptions = {}): Promise<JobPage> {
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 50)), 1000);
    const states = options.status === undefined ? JOB_STATES : typeof options.status === 'string' ? [options.status] : options.status;
    const newestFirst = options.order === 'newest_first';
    const cursor = options.cursor === undefined ? undefined : parseCursor(options.cursor);
    return this.read(() => {
      const params = { states: JSON.stringify(states), limit: limit + 1 };
      const rows = (
        newestFirst
          ? this.sql.listNewestFirst.all({ ...params, before: cursor ?? Number.MAX_SAFE_INTEGER })
          : this.sql.listOldestFirst.all({ ...params, after: cursor ?? 0 })
      ) as JobRow[];
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { jobs: this.toJobs(page), nextCursor: rows.length > limit && last ? String(last.seq) : null };
    });
  }

  async listQueue(options: QueueOrderOptions = {}): Promise<Job[]> {
    const now = options.now ?? this.clock.now();
    return this.read(() => {
      const statement = options.status === 'waiting_for_model' ? this.sql.waitingOrder : this.sql.queuedOrder;
      const rows = statement.all({ ...this.agingParams(now), limit: options.limit ?? -1 }) as JobRow[];
      return this.toJobs(rows);
    });
  }

  /**
   * Counts, lane by lane, the oldest jobs that are ahead (see {@link laneAhead}) with index ranges: for a job just
   * accepted that reads the lane totals and the few jobs old enough to have aged past it, however long the queue.
   */
  async queuePosition(id: string, now = this.clock.now()): Promise<number | null> {
    return this.read(() => {
      const row = this.requireRow(id);
      if (row.status !== 'queued') return null;
      const rank = effectiveRank({ priority: PRIORITIES[row.priority_rank] as Priority, queuedAt: row.created_at, sequence: row.seq }, now, this.agingSeconds);
      let ahead = 0;
      for (let lane = 0; lane < PRIORITIES.length; lane++) {
        const { allUpTo, tiedUpTo } = laneAhead(lane, rank, now, this.agingSeconds);
        if (tiedUpTo === -Infinity) continue; // then allUpTo is -Infinity too: none of this lane is ahead
        const total = (this.sql.laneTotal.get({ lane }) as { n: number }).n;
        if (allUpTo === Infinity) {
          ahead += total;
          continue;
        }
        const before = total - (this.sql.laneFrom.get({ lane, created_at: row.created_at, seq: row.seq }) as { n: number }).n;
        const tied = tiedUpTo === Infinity ? before : Math.min(this.countLaneUpTo(lane, tiedUpTo), before);
        ahead += Math.max(this.countLaneUpTo(lane, allUpTo), tied);
      }
      return ahead + 1;
    });
  }

  async claimNext(options: ClaimOptions): Promise<Job | null> {
    const now = options.now ?? this.clock.now();
    const leaseMs = options.leaseMs ?? this.leaseMs;
    const prefer = options.preferModel;
    const take = prefer ? Math.max(0, Math.floor(prefer.maxSkip)) + 1 : 1;
    // Decided before taking the write lock, so that a pass with nothing to run (the common case on every submit)
    // neither locks nor writes. A job of another model queued meanwhile waits for the next pass.
    const ready = options.readyModels === undefined ? undefined : this.readyModelIds(options.readyModels);
    if (ready?.length === 0) return null;
    return this.writeRelaxed(() => {
      const params = { ...this.agingParams(now), take };
      const candidates = (
        ready === undefined ? this.sql.candidates.all(params) : this.sql.readyCandidates.all({ ...params, ready: JSON.stringify(ready) })
      ) as Candidate[];
      const head = candidates[0];
      if (!head) return null;
      const preferred = prefer ? candidates.find((c) => c.model_used === prefer.modelId && c.eff_rank === head.eff_rank) : undefined;
      const chosen = preferred ?? head;
      const skipped = candidates.indexOf(chosen);

      const row = this.rowAt(chosen.seq);
      const attempt = row.attempts + 1;
      const expiresAt = now + leaseMs;
      this.sql.markRunning.run({ seq: row.seq, owner: options.owner, expires_at: expiresAt, now });
      this.addTimeline(row.seq, now, 'started', `attempt ${attempt} of ${row.max_attempts} started by ${options.owner} on ${row.model_used}`, {
        owner: options.owner,
        attempt,
        model: row.model_used,
        leaseExpiresAt: expiresAt,
        ...(skipped > 0 ? { skippedForAffinity: skipped } : {}),
      });
      return this.jobAt(row.seq);
    });
  }

  async renewLease(id: string, owner: string, now?: number, leaseMs?: number): Promise<JobLease> {
    const at = now ?? this.clock.now();
    const lease = { owner, expiresAt: at + (leaseMs ?? this.leaseMs) };
    return this.writeRelaxed(() => {
      const row = this.leasedRow(id, owner, 'renew the lease of');
      this.sql.renewLease.run({ seq: row.seq, expires_at: lease.expiresAt, now: at });
      return lease;
    });
  }

  async updateProgress(id: string, owner: string, progress: number, message?: string): Promise<void> {
    if (Number.isNaN(progress)) throw new RangeError('progress must be a number from 0 to 1, got NaN');
    const clamped = Math.min(1, Math.max(0, progress));
    const now = this.clock.now();
    await this.writeRelaxed(() => {
      const row = this.leasedRow(id, owner, 'report progress on');
      this.sql.setProgress.run({ seq: row.seq, progress: clamped, message: message ?? row.progress_message, now });
      if (message !== undefined && message !== row.progress_message) {
        this.addTimeline(row.seq, now, 'progress', message, { progress: clamped });
      }
    });
  }

  async appendTimeline(id: string, entry: Omit<TimelineEntry, 'at'> & { at?: number }): Promise<TimelineEntry> {
    const at = entry.at ?? this.clock.now();
    return this.write(() => {
      const row = this.requireRow(id);
      this.addTimeline(row.seq, at, entry.kind, entry.message, entry.data);
      this.sql.touch.run({ seq: row.seq, now: at });
      return entry.data === undefined ? { at, kind: entry.kind, message: entry.message } : { at, kind: entry.kind, message: entry.message, data: entry.data };
    });
  }

  async complete(id: string, owner: string, output: JobOutput): Promise<Job> {
    const now = this.clock.now();
    return this.write(() => {
      const row = this.leasedRow(id, owner, 'complete');
      this.sql.markSucceeded.run({ seq: row.seq, output: JSON.stringify(output), now });
      // The timeline is shown to API clients: it names the output, never its path on this machine's disk.
      const what = output.isPreview ? 'a labelled preview, not a generated video' : 'a video';
      this.addTimeline(row.seq, now, 'succeeded', `succeeded on ${row.model_used} in attempt ${row.attempts}: ${what} (${output.mediaType}, ${formatBytes(output.sizeBytes)})`, {
        model: row.model_used,
        attempt: row.attempts,
        mediaType: output.mediaType,
        sizeBytes: output.sizeBytes,
        isPreview: output.isPreview,
      });
      return this.jobAt(row.seq);
    });
  }

  async fail(id: string, owner: string, error: JobError, options: FailOptions): Promise<Job> {
    const now = this.clock.now();
    return this.write(() => {
      const row = this.leasedRow(id, owner, 'fail');
      const attemptsLeft = row.attempts < row.max_attempts;
      const requeue = options.retry && attemptsLeft;
      const outcome = requeue ? '' : options.retry ? '; no attempts left' : '; not retried';
      this.addTimeline(row.seq, now, 'failed', `attempt ${row.attempts} of ${row.max_attempts} on ${row.model_used} failed: ${error.message}${outcome}`, {
        attempt: row.attempts,
        model: row.model_used,
        ...(error.failureType ? { failureType: error.failureType } : {}),
        ...(error.evidence ? { evidence: error.evidence } : {}),
      });
      const errorJson = JSON.stringify(error);
      if (!requeue) {
        this.sql.markFailed.run({ seq: row.seq, error: errorJson, now });
        return this.jobAt(row.seq);
      }
      let model = row.model_used;
      if (options.replan) {
        const { plan, modelUsed, requirements } = options.replan;
        const body = JSON.parse(row.body) as JobBody;
        const replanned: JobBody = { ...body, plan, request: { ...body.request, requirements } };
        this.sql.replan.run({ seq: row.seq, model_used: modelUsed, body: JSON.stringify(replanned) });
        this.addTimeline(row.seq, now, 'replanned', `replanned: ${plan.recommendedAction}`, { strategyType: plan.strategyType, model: modelUsed });
        model = modelUsed;
      }
      this.sql.markRequeued.run({ seq: row.seq, error: errorJson, now });
      this.addTimeline(row.seq, now, 'requeued', `queued again for attempt ${row.attempts + 1} of ${row.max_attempts} on ${model}`);
      return this.jobAt(row.seq);
    });
  }

  async setWaitingForModel(id: string, options: WaitForModelOptions): Promise<Job> {
    const now = this.clock.now();
    return this.write(() => {
      const row = this.requireRow(id);
      if (row.status === 'running') {
        if (options.owner === undefined) throw new InvalidTransitionError(id, row.status, 'park a running job without its lease owner');
        this.leasedRow(id, options.owner, 'park');
      } else if (isTerminalJobState(row.status)) {
        throw new InvalidTransitionError(id, row.status, 'set waiting_for_model on');
      }
      // A claim handed back for want of its model is not a failed attempt.
      const attempts = row.status === 'running' ? row.attempts - 1 : row.attempts;
      this.sql.markWaiting.run({ seq: row.seq, waiting_for: options.modelId, attempts, now });
      this.addTimeline(row.seq, now, 'waiting_for_model', options.message, { modelId: options.modelId });
      return this.jobAt(row.seq);
    });
  }

  async releaseWaiting(modelId: string, now?: number): Promise<Job[]> {
    const at = now ?? this.clock.now();
    return this.write(() => {
      const rows = this.sql.waitingFor.all({ model: modelId }) as JobRow[];
      for (const row of rows) {
        this.sql.markReleased.run({ seq: row.seq, now: at });
        this.addTimeline(row.seq, at, 'queued', `${modelId} is ready; queued`, { modelId });
      }
      return rows.map((row) => this.jobAt(row.seq));
    });
  }

  async cancel(id: string, reason: string, options: { ifState?: JobState } = {}): Promise<Job> {
    const now = this.clock.now();
    return this.write(() => {
      const row = this.requireRow(id);
      if (options.ifState !== undefined && row.status !== options.ifState) {
        throw new InvalidTransitionError(id, row.status, `cancel (only when ${options.ifState})`);
      }
      if (isTerminalJobState(row.status)) throw new InvalidTransitionError(id, row.status, 'cancel');
      this.sql.markCancelled.run({ seq: row.seq, error: JSON.stringify({ message: reason } satisfies JobError), now });
      const where = row.status === 'running' ? ` while running on ${row.model_used} under ${row.lease_owner ?? 'no owner'}` : ` while ${row.status}`;
      this.addTimeline(row.seq, now, 'cancelled', `cancelled${where}: ${reason}`, { previousStatus: row.status });
      return this.jobAt(row.seq);
    });
  }

  async expireDue(now?: number, options: ExpireOptions = {}): Promise<Job[]> {
    const at = now ?? this.clock.now();
    const states = options.states ?? WAITING_JOB_STATES;
    return this.write(() => {
      const rows = (this.sql.due.all({ now: at }) as JobRow[]).filter((row) => (states as readonly JobState[]).includes(row.status));
      for (const row of rows) {
        const deadline = row.deadline ?? at;
        const message =
          `not started by its deadline ${new Date(deadline).toISOString()} ` +
          `(${formatDuration((deadline - row.created_at) / 1000)} after it was accepted); expired while ${row.status}`;
        this.sql.markExpired.run({ seq: row.seq, error: JSON.stringify({ message } satisfies JobError), now: at });
        this.addTimeline(row.seq, at, 'expired', message, { deadline, previousStatus: row.status });
      }
      return rows.map((row) => this.jobAt(row.seq));
    });
  }

  async recoverLapsedLeases(now?: number): Promise<Job[]> {
    const at = now ?? this.clock.now();
    return this.write(() => {
      const rows = this.sql.lapsed.all({ now: at }) as JobRow[];
      for (const row of rows) {
        const owner = row.lease_owner ?? 'no owner';
        const lapsedAt = new Date(row.lease_expires_at ?? at).toISOString();
        this.addTimeline(row.seq, at, 'lease_lapsed', `the lease of ${owner} lapsed at ${lapsedAt} during attempt ${row.attempts} of ${row.max_attempts}`, {
          owner,
          attempt: row.attempts,
          leaseExpiresAt: row.lease_expires_at,
        });
        if (row.attempts < row.max_attempts) {
          this.sql.markRequeued.run({ seq: row.seq, error: row.error, now: at });
          this.addTimeline(row.seq, at, 'requeued', `queued again for attempt ${row.attempts + 1} of ${row.max_attempts} on ${row.model_used}`);
        } else {
          const message = `the worker stopped answering during attempt ${row.attempts} of ${row.max_attempts} (its lease lapsed); no attempts left`;
          this.sql.markFailed.run({ seq: row.seq, error: JSON.stringify({ message } satisfies JobError), now: at });
          this.addTimeline(row.seq, at, 'failed', message, { attempt: row.attempts });
        }
      }
      return rows.map((row) => this.jobAt(row.seq));
    });
  }

  async purgeFinished(olderThan?: number): Promise<number> {
    const before = olderThan ?? this.clock.now() - this.retentionMs;
    return this.write(() => this.sql.purge.run({ before }).changes);
  }

  // counts() and queueSnapshot() are one statement each, consistent on its own: no transaction around them.
  async counts(): Promise<Record<JobState, number>> {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const { status, n } of this.sql.counts.all() as Array<{ status: JobState; n: number }>) counts[status] = n;
    return counts;
  }

  async queueSnapshot(): Promise<QueueSnapshot> {
    const takenAt = this.clock.now();
    const byModel: Record<string, ModelQueueCounts> = {};
    let total = 0;
    for (const g of this.sql.snapshot.all() as Array<{ status: JobState; model: string; priority_rank: number; n: number }>) {
      const counts = (byModel[g.model] ??= { queued: zeroByPriority(), waitingForModel: zeroByPriority(), total: 0 });
      const priority = PRIORITIES[g.priority_rank] as Priority;
      if (g.status === 'queued') counts.queued[priority] += g.n;
      else counts.waitingForModel[priority] += g.n;
      counts.total += g.n;
      total += g.n;
    }
    return { takenAt, byModel, total };
  }

  async oldestWaitingAcceptedAt(): Promise<number | null> {
    return (this.sql.oldestWaiting.get() as { at: number | null }).at;
  }

  /** Waits for pending syncs (the last connection's close removes the log), then closes the database. */
  async close(): Promise<void> {
    await this.logSync.flush().catch(() => undefined);
    await this.logFile?.close();
    this.db.close();
  }

  /**
   * Runs `fn` in an immediate (write-locking) transaction, so that changes by two processes cannot interleave, and
   * resolves once the commit is synced to disk (with every other commit made while the sync was pending).
   */
  private async write<T>(fn: () => T): Promise<T> {
    const result = await this.writeRelaxed(fn);
    await this.logSync.flush();
    return result;
  }

  /**
   * Like {@link write}, but returns as soon as the transaction committed, unsynced: safe against a process crash,
   * while a power cut may lose it. Used only for claims, lease renewals and progress. A power cut stops every worker
   * on this machine, so such a loss leaves a job queued (claim lost) or with an older lease (renewal lost) whose
   * worker is gone anyway: exactly what the queue and recoverLapsedLeases handle. The log is sequential, so the next
   * synced change carries these along, and nothing synced ever depends on something lost.
   */
  private writeRelaxed<T>(fn: () => T): Promise<T> {
    return this.locked(() => this.runInTransaction.immediate(fn) as T);
  }

  /** Runs `fn` in a read transaction: one consistent snapshot across its queries. */
  private read<T>(fn: () => T): Promise<T> {
    return this.locked(() => this.runInTransaction.deferred(fn) as T);
  }

  /**
   * Runs `transaction`, trying again while another process holds the database locked (SQLite refuses before running
   * any of it), with pauses of 1, 2, 4 ... up to LOCK_RETRY_MAX_PAUSE_MS, until `lockWaitMs` has passed: then the
   * `SQLITE_BUSY` error is thrown. Timed on `lockClock`.
   */
  private async locked<T>(transaction: () => T): Promise<T> {
    const started = this.lockClock.now();
    for (let pause = 1; ; pause = Math.min(pause * 2, LOCK_RETRY_MAX_PAUSE_MS)) {
      try {
        return transaction();
      } catch (error) {
        if (!isBusyError(error) || this.lockClock.now() - started >= this.lockWaitMs) throw error;
      }
      await sleep(this.lockClock, pause);
    }
  }

  private waitingCount(): number {
    const row = this.sql.waitingCount.get() as { n: number };
    return row.n;
  }

  private agingParams(now: number): Record<string, number> {
    return this.agingSeconds > 0 ? { now, aging: this.agingSeconds } : { now };
  }

  /** The ids of queued jobs' models that are ready. */
  private readyModelIds(ready: NonNullable<ClaimOptions['readyModels']>): string[] {
    if (typeof ready !== 'function') return [...ready];
    const queuedModels = (this.sql.queuedModels.all() as Array<{ model: string }>).map((r) => r.model);
    return queuedModels.filter((m) => ready(m));
  }

  /** Queued jobs of a priority lane accepted at or before `upTo` (epoch ms, finite, or -Infinity for none). */
  private countLaneUpTo(lane: number, upTo: number): number {
    return upTo === -Infinity ? 0 : (this.sql.laneUpTo.get({ lane, upTo }) as { n: number }).n;
  }

  private requireRow(id: string): JobRow {
    const row = this.sql.selectById.get(id) as JobRow | undefined;
    if (!row) throw new JobNotFoundError(id);
    return row;
  }

  /** The row of a job running under `owner`, else a LeaseLostError. */
  private leasedRow(id: string, owner: string, attempted: string): JobRow {
    const row = this.requireRow(id);
    if (row.status !== 'running' || row.lease_owner !== owner) throw new LeaseLostError(id, owner, row.status, row.lease_owner, attempted);
    return row;
  }

  private rowAt(seq: number): JobRow {
    return this.sql.selectBySeq.get(seq) as JobRow;
  }

  private jobAt(seq: number): Job {
    return this.toJobs([this.rowAt(seq)])[0] as Job;
  }

  /** Adds a timeline entry and returns it as it reads back (its data through JSON). */
  private addTimeline(seq: number, at: number, kind: TimelineKind, message: string, data?: Record<string, unknown>): TimelineEntry {
    const json = data === undefined ? null : JSON.stringify(data);
    this.sql.insertTimeline.run({ seq, at, kind, message, data: json });
    return json === null ? { at, kind, message } : { at, kind, message, data: JSON.parse(json) as Record<string, unknown> };
  }

  /** Turns rows into jobs, reading all their timelines in one query. */
  private toJobs(rows: readonly JobRow[]): Job[] {
    if (rows.length === 0) return [];
    const timelines = new Map<number, TimelineEntry[]>();
    for (const t of this.sql.timelines.all({ seqs: JSON.stringify(rows.map((r) => r.seq)) }) as TimelineRow[]) {
      const entry: TimelineEntry = { at: t.at, kind: t.kind, message: t.message };
      if (t.data !== null) entry.data = JSON.parse(t.data) as Record<string, unknown>;
      const list = timelines.get(t.job_seq);
      if (list) list.push(entry);
      else timelines.set(t.job_seq, [entry]);
    }
    return rows.map((row) => toJob(row, timelines.get(row.seq) ?? []));
  }

  private prepare() {
    const db = this.db;
    const effectiveRank =
      this.agingSeconds > 0 ? 'MAX(0, priority_rank - CAST(MAX(0, @now - created_at) / 1000.0 / @aging AS INTEGER))' : 'priority_rank';
    // The head of each priority lane, in (created_at, seq) order, is the best job of that lane: an older job has aged
    // at least as much. So the first `take` jobs in queue order are among the first `take` of each lane, and each lane
    // is one range of the jobs_queue_order index, however long the queue.
    const lanes = (filter: string): string =>
      `SELECT seq, model_used, eff_rank FROM (` +
      PRIORITIES.map(
        (_, rank) =>
          `SELECT * FROM (SELECT seq, model_used, created_at, ${effectiveRank} AS eff_rank FROM jobs ` +
          `WHERE status = 'queued' AND priority_rank = ${rank} AND (deadline IS NULL OR deadline > @now)${filter} ` +
          `ORDER BY created_at, seq LIMIT @take)`,
      ).join(' UNION ALL ') +
      `) ORDER BY eff_rank, created_at, seq LIMIT @take`;
    return {
      selectById: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      selectBySeq: db.prepare('SELECT * FROM jobs WHERE seq = ?'),
      insertJob: db.prepare(
        `INSERT INTO jobs (id, status, priority_rank, model_used, waiting_for, created_at, updated_at, deadline, max_attempts, body)
         VALUES (@id, @status, @priority_rank, @model_used, @waiting_for, @created_at, @updated_at, @deadline, @max_attempts, @body)`,
      ),
      insertTimeline: db.prepare('INSERT INTO job_timeline (job_seq, at, kind, message, data) VALUES (@seq, @at, @kind, @message, @data)'),
      timelines: db.prepare('SELECT job_seq, at, kind, message, data FROM job_timeline WHERE job_seq IN (SELECT value FROM json_each(@seqs)) ORDER BY job_seq, id'),
      listOldestFirst: db.prepare('SELECT * FROM jobs WHERE status IN (SELECT value FROM json_each(@states)) AND seq > @after ORDER BY seq LIMIT @limit'),
      listNewestFirst: db.prepare('SELECT * FROM jobs WHERE status IN (SELECT value FROM json_each(@states)) AND seq < @before ORDER BY seq DESC LIMIT @limit'),
      queuedOrder: db.prepare(`SELECT *, ${effectiveRank} AS eff_rank FROM jobs WHERE status = 'queued' ORDER BY eff_rank, created_at, seq LIMIT @limit`),
      waitingOrder: db.prepare(
        `SELECT *, ${effectiveRank} AS eff_rank FROM jobs WHERE status = 'waiting_for_model' ORDER BY eff_rank, created_at, seq LIMIT @limit`,
      ),
      candidates: db.prepare(lanes('')),
      readyCandidates: db.prepare(lanes(' AND model_used IN (SELECT value FROM json_each(@ready))')),
      queuedModels: db.prepare("SELECT DISTINCT model FROM job_queue_counts WHERE status = 'queued' AND n > 0"),
      waitingCount: db.prepare("SELECT SUM(n) AS n FROM job_state_counts WHERE status IN ('queued', 'waiting_for_model')"),
      markRunning: db.prepare(
        `UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = @owner, lease_expires_at = @expires_at,
         progress = 0, progress_message = NULL, updated_at = @now WHERE seq = @seq`,
      ),
      renewLease: db.prepare('UPDATE jobs SET lease_expires_at = @expires_at, updated_at = @now WHERE seq = @seq'),
      setProgress: db.prepare('UPDATE jobs SET progress = @progress, progress_message = @message, updated_at = @now WHERE seq = @seq'),
      touch: db.prepare('UPDATE jobs SET updated_at = MAX(updated_at, @now) WHERE seq = @seq'),
      markSucceeded: db.prepare(
        `UPDATE jobs SET status = 'succeeded', output = @output, progress = 1, lease_owner = NULL, lease_expires_at = NULL,
         updated_at = @now WHERE seq = @seq`,
      ),
      markFailed: db.prepare(
        "UPDATE jobs SET status = 'failed', error = @error, lease_owner = NULL, lease_expires_at = NULL, waiting_for = NULL, updated_at = @now WHERE seq = @seq",
      ),
      markRequeued: db.prepare(
        `UPDATE jobs SET status = 'queued', error = @error, lease_owner = NULL, lease_expires_at = NULL, progress = 0,
         progress_message = NULL, updated_at = @now WHERE seq = @seq`,
      ),
      replan: db.prepare('UPDATE jobs SET model_used = @model_used, body = @body WHERE seq = @seq'),
      markWaiting: db.prepare(
        `UPDATE jobs SET status = 'waiting_for_model', waiting_for = @waiting_for, attempts = @attempts, lease_owner = NULL,
         lease_expires_at = NULL, progress = 0, progress_message = NULL, updated_at = @now WHERE seq = @seq`,
      ),
      waitingFor: db.prepare("SELECT * FROM jobs WHERE status = 'waiting_for_model' AND waiting_for = @model ORDER BY seq"),
      markReleased: db.prepare("UPDATE jobs SET status = 'queued', waiting_for = NULL, updated_at = @now WHERE seq = @seq"),
      markCancelled: db.prepare(
        `UPDATE jobs SET status = 'cancelled', error = @error, lease_owner = NULL, lease_expires_at = NULL, waiting_for = NULL,
         updated_at = @now WHERE seq = @seq`,
      ),
      due: db.prepare("SELECT * FROM jobs WHERE status IN ('queued', 'waiting_for_model') AND deadline <= @now ORDER BY deadline"),
      markExpired: db.prepare("UPDATE jobs SET status = 'expired', error = @error, waiting_for = NULL, updated_at = @now WHERE seq = @seq"),
      lapsed: db.prepare("SELECT * FROM jobs WHERE status = 'running' AND lease_expires_at <= @now ORDER BY seq"),
      purge: db.prepare("DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled', 'expired') AND updated_at < @before"),
      counts: db.prepare('SELECT status, n FROM job_state_counts'),
      oldestWaiting: db.prepare("SELECT MIN(created_at) AS at FROM jobs WHERE status IN ('queued', 'waiting_for_model')"),
      snapshot: db.prepare('SELECT status, model, priority_rank, n FROM job_queue_counts WHERE n > 0'),
      // Lane counts for queuePosition: the total from the counts table, the others ranges of the jobs_queue index.
      laneTotal: db.prepare("SELECT COALESCE(SUM(n), 0) AS n FROM job_queue_counts WHERE status = 'queued' AND priority_rank = @lane"),
      laneUpTo: db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND priority_rank = @lane AND created_at <= @upTo"),
      laneFrom: db.prepare(
        "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND priority_rank = @lane AND created_at >= @created_at AND (created_at > @created_at OR seq >= @seq)",
      ),
    };
  }
}

function toJob(row: JobRow, timeline: TimelineEntry[]): Job {
  const body = JSON.parse(row.body) as JobBody;
  const job: Job = {
    id: row.id,
    sequence: row.seq,
    status: row.status,
    requestedModel: body.requestedModel,
    modelUsed: row.model_used,
    waitingFor: row.waiting_for,
    request: body.request,
    plan: body.plan,
    priority: PRIORITIES[row.priority_rank] as Priority,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deadline: row.deadline,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    lease: row.lease_owner !== null && row.lease_expires_at !== null ? { owner: row.lease_owner, expiresAt: row.lease_expires_at } : null,
    progress: row.progress,
    progressMessage: row.progress_message,
    output: row.output === null ? null : (JSON.parse(row.output) as JobOutput),
    error: row.error === null ? null : (JSON.parse(row.error) as JobError),
    timeline,
  };
  if (body.parentJobId !== undefined) job.parentJobId = body.parentJobId;
  if (body.hybridOf !== undefined) job.hybridOf = body.hybridOf;
  return job;
}

function zeroByPriority(): Record<Priority, number> {
  return Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
}

function requirePositiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of 1 or more, got ${value}`);
}

function parseCursor(cursor: string): number {
  const seq = Number(cursor);
  if (!/^\d+$/.test(cursor) || !Number.isSafeInteger(seq)) throw new InvalidCursorError(cursor);
  return seq;
}
