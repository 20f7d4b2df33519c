// Over 400 lines for one reason: each of the job-store port's methods is one transaction here that persists a lifecycle decision.
import { v7 as timeOrderedUuid } from 'uuid';
import type { Clock } from '../../core/clock.js';
import { chooseWithAffinity, effectiveRank, queuedAhead } from '../../core/queue-ordering.js';
import { PRIORITIES, type Priority } from '../../core/vocabulary.js';
import { JOB_STATES, WAITING_JOB_STATES, type Job, type JobError, type JobLease, type JobOutput, type JobState, type NewJob, type TimelineEntry } from '../../runtime/job.js';
import {
  JOB_STORE_DEFAULTS,
  JobAlreadyExistsError,
  parseSequenceCursor,
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
} from '../../runtime/job-store.js';
import {
  acceptJob,
  admitToQueue,
  cancelJob,
  claimJob,
  completeJob,
  expireJob,
  failAttempt,
  lapseLease,
  releaseJob,
  renewJobLease,
  reportProgress,
  requirePositiveInteger,
  waitForModel,
} from '../../runtime/job-transitions.js';
import { SystemClock } from '../system-clock.js';
import { JobDatabase } from './job-database.js';
import { factsOf, toJob, type JobBody, type JobRow } from './job-rows.js';
import type { FileSync } from './log-file-sync.js';

export type { FileSync } from './log-file-sync.js';

/** Options of {@link SqliteJobStore}. */
export interface SqliteJobStoreOptions extends JobStoreOptions {
  /** The database file; its folder is created when missing. */
  path: string;
  /** Syncs the write-ahead log (`<path>-wal`) before a durable change resolves. Default: `fdatasync` of the log. */
  syncLog?: FileSync;
  /**
   * How long a read or change waits for another process that holds the database locked before it fails with
   * `SQLITE_BUSY`, ms on `lockClock`. Default 5000. The event loop keeps turning meanwhile: SQLite itself waits at
   * most LOCK_SPIN_MS (lock-retry.ts) per try, then the store tries again after a pause on `lockClock`.
   */
  lockWaitMs?: number;
  /**
   * The clock lock waits are timed on. Default: the system clock, whatever `clock` is, since the lock is held by
   * another process in real time.
   */
  lockClock?: Clock;
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
 * Durability is a pipelined group commit: the durable changes of one turn of the event loop commit together to the
 * write-ahead log without a sync (`synchronous = NORMAL`), then wait for an `fdatasync` of the log that started after
 * their commit, off the event loop and shared by every change committed meanwhile, while the next turn's changes
 * commit (see {@link JobDatabase.write}). So many concurrent submits cost one transaction per turn and one or two
 * syncs, not one each, and the event loop never blocks on the disk. SQLite itself still syncs the log before each
 * checkpoint and the database after it.
 */
export class SqliteJobStore implements JobStore {
  readonly maxQueueSize: number;
  private readonly clock: Clock;
  private readonly agingSeconds: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly retentionMs: number;
  private readonly retryAfterSeconds: number;
  private readonly db: JobDatabase;

  constructor(options: SqliteJobStoreOptions) {
    this.clock = options.clock;
    this.maxQueueSize = options.maxQueueSize ?? JOB_STORE_DEFAULTS.maxQueueSize;
    this.agingSeconds = options.agingSeconds ?? JOB_STORE_DEFAULTS.agingSeconds;
    this.leaseMs = options.leaseMs ?? JOB_STORE_DEFAULTS.leaseMs;
    this.maxAttempts = options.maxAttempts ?? JOB_STORE_DEFAULTS.maxAttempts;
    this.retentionMs = options.retentionMs ?? JOB_STORE_DEFAULTS.retentionMs;
    this.retryAfterSeconds = options.retryAfterSeconds ?? JOB_STORE_DEFAULTS.retryAfterSeconds;
    requirePositiveInteger(this.maxQueueSize, 'maxQueueSize');
    requirePositiveInteger(this.maxAttempts, 'maxAttempts');

    this.db = new JobDatabase({
      path: options.path,
      agingSeconds: this.agingSeconds,
      lockWaitMs: options.lockWaitMs ?? 5000,
      lockClock: options.lockClock ?? new SystemClock(),
      ...(options.syncLog ? { syncLog: options.syncLog } : {}),
    });
  }

  /**
   * Stored with the other enqueues of the same turn, in one transaction and one sync (see {@link JobDatabase.write}).
   * A job refused by a check (full queue, taken id) is refused before it writes anything, so it does not affect the
   * others; a failure of SQLite itself rolls the whole batch back and rejects every job in it.
   */
  async enqueue(newJob: NewJob): Promise<Job> {
    const at = newJob.acceptedAt ?? this.clock.now();
    return this.db.write(() => this.insertJob(newJob, at).job, { batchWithTurn: true });
  }

  /** Like {@link SqliteJobStore.enqueue}; the queue position is read in the insert's transaction, at its time. */
  async enqueueWithPosition(newJob: NewJob): Promise<{ job: Job; queuePosition: number | null }> {
    const at = newJob.acceptedAt ?? this.clock.now();
    return this.db.write(() => {
      const { job, row } = this.insertJob(newJob, at);
      return { job, queuePosition: row.status === 'queued' ? this.positionOf(row, this.clock.now()) : null };
    }, { batchWithTurn: true });
  }

  /**
   * Inserts a job as the lifecycle accepts it, with its first timeline entries; returns it as it reads back. Throws,
   * having written nothing, when the queue is full, the id is taken or an option is bad.
   */
  private insertJob(newJob: NewJob, at: number): { job: Job; row: JobRow } {
    admitToQueue(this.waitingCount(), this.maxQueueSize, this.retryAfterSeconds);
    if (newJob.id !== undefined && this.db.sql.selectById.get(newJob.id)) throw new JobAlreadyExistsError(newJob.id);
    const accepted = acceptJob(newJob, at, this.maxAttempts);
    // Time-ordered (UUIDv7): a new id goes at the end of the id index instead of a random page of it, which halved
    // the system time of an enqueue here and keeps inserts cheap as the table grows past the page cache.
    const id = newJob.id ?? timeOrderedUuid();
    const body: JobBody = { requestedModel: accepted.requestedModel, request: newJob.request, plan: newJob.plan };
    if (newJob.parentJobId !== undefined) body.parentJobId = newJob.parentJobId;
    if (newJob.hybridOf !== undefined) body.hybridOf = newJob.hybridOf;
    const inserted = {
      id,
      status: accepted.status,
      priority_rank: accepted.priorityRank,
      model_used: accepted.modelUsed,
      waiting_for: accepted.waitingFor,
      created_at: at,
      updated_at: at,
      deadline: accepted.deadline,
      max_attempts: accepted.maxAttempts,
      body: JSON.stringify(body),
    };
    const seq = Number(this.db.sql.insertJob.run(inserted).lastInsertRowid);
    const timeline = this.db.addTimeline(seq, accepted.timeline);
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
    return { job: toJob(row, timeline), row };
  }

  async get(id: string): Promise<Job | null> {
    return this.db.read(() => {
      const row = this.db.sql.selectById.get(id) as JobRow | undefined;
      return row ? this.db.toJobs([row])[0] ?? null : null;
    });
  }

  async list(options: ListOptions = {}): Promise<JobPage> {
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 50)), 1000);
    const states = options.status === undefined ? JOB_STATES : typeof options.status === 'string' ? [options.status] : options.status;
    const newestFirst = options.order === 'newest_first';
    const cursor = options.cursor === undefined ? undefined : parseSequenceCursor(options.cursor);
    return this.db.read(() => {
      const params = { states: JSON.stringify(states), limit: limit + 1 };
      const rows = (
        newestFirst
          ? this.db.sql.listNewestFirst.all({ ...params, before: cursor ?? Number.MAX_SAFE_INTEGER })
          : this.db.sql.listOldestFirst.all({ ...params, after: cursor ?? 0 })
      ) as JobRow[];
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { jobs: this.db.toJobs(page), nextCursor: rows.length > limit && last ? String(last.seq) : null };
    });
  }

  async listQueue(options: QueueOrderOptions = {}): Promise<Job[]> {
    const now = options.now ?? this.clock.now();
    const limit = options.limit === undefined ? undefined : Math.max(0, Math.floor(options.limit));
    return this.db.read(() => {
      const aging = this.agingParams(now);
      // A bounded read of the queued jobs reads the head of each priority lane only, however long the queue.
      const rows = (
        options.status === 'waiting_for_model'
          ? this.db.sql.waitingOrder.all({ ...aging, limit: limit ?? -1 })
          : limit === undefined
            ? this.db.sql.queuedOrder.all({ ...aging, limit: -1 })
            : this.db.sql.queuedHead.all({ ...aging, take: limit })
      ) as JobRow[];
      return this.db.toJobs(rows);
    });
  }

  /**
   * Counts, lane by lane, the oldest jobs that are ahead (see {@link queuedAhead}) with index ranges: for a job just
   * accepted that reads the lane totals and the few jobs old enough to have aged past it, however long the queue.
   */
  async queuePosition(id: string, now = this.clock.now()): Promise<number | null> {
    return this.db.read(() => {
      const row = this.db.requireRow(id);
      return row.status === 'queued' ? this.positionOf(row, now) : null;
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
    return this.db.writeRelaxed(() => {
      const params = { ...this.agingParams(now), take };
      const candidates = (
        ready === undefined ? this.db.sql.candidates.all(params) : this.db.sql.readyCandidates.all({ ...params, ready: JSON.stringify(ready) })
      ) as Candidate[];
      const choice = chooseWithAffinity(
        candidates.map((c) => ({ ...c, modelId: c.model_used, effectiveRank: c.eff_rank })),
        prefer,
      );
      if (!choice) return null;
      const { chosen, skipped } = choice;

      const row = this.db.rowAt(chosen.seq);
      const claim = claimJob(factsOf(row), options.owner, now, leaseMs, skipped);
      this.db.sql.markRunning.run({ seq: row.seq, owner: claim.lease.owner, expires_at: claim.lease.expiresAt, attempts: claim.attempts, now });
      this.db.addTimeline(row.seq, claim.timeline);
      return this.db.jobAt(row.seq);
    });
  }

  async renewLease(id: string, owner: string, now?: number, leaseMs?: number): Promise<JobLease> {
    const at = now ?? this.clock.now();
    return this.db.writeRelaxed(() => {
      const row = this.db.requireRow(id);
      const lease = renewJobLease(factsOf(row), owner, at, leaseMs ?? this.leaseMs);
      this.db.sql.renewLease.run({ seq: row.seq, expires_at: lease.expiresAt, now: at });
      return lease;
    });
  }

  async updateProgress(id: string, owner: string, progress: number, message?: string): Promise<void> {
    const now = this.clock.now();
    await this.db.writeRelaxed(() => {
      const row = this.db.requireRow(id);
      const reported = reportProgress(factsOf(row), owner, progress, message, now);
      this.db.sql.setProgress.run({ seq: row.seq, progress: reported.progress, message: reported.progressMessage, now });
      this.db.addTimeline(row.seq, reported.timeline);
    });
  }

  async appendTimeline(id: string, entry: Omit<TimelineEntry, 'at'> & { at?: number }): Promise<TimelineEntry> {
    const at = entry.at ?? this.clock.now();
    return this.db.write(() => {
      const row = this.db.requireRow(id);
      const added: TimelineEntry = entry.data === undefined ? { at, kind: entry.kind, message: entry.message } : { at, kind: entry.kind, message: entry.message, data: entry.data };
      this.db.addTimeline(row.seq, [added]);
      this.db.sql.touch.run({ seq: row.seq, now: at });
      return added;
    });
  }

  async complete(id: string, owner: string, output: JobOutput): Promise<Job> {
    const now = this.clock.now();
    return this.db.write(() => {
      const row = this.db.requireRow(id);
      const done = completeJob(factsOf(row), owner, output, now);
      this.db.sql.markSucceeded.run({ seq: row.seq, output: JSON.stringify(output), now });
      this.db.addTimeline(row.seq, done.timeline);
      return this.db.jobAt(row.seq);
    });
  }

  async fail(id: string, owner: string, error: JobError, options: FailOptions): Promise<Job> {
    const now = this.clock.now();
    return this.db.write(() => {
      const row = this.db.requireRow(id);
      const failed = failAttempt(factsOf(row), owner, error, options, now);
      const errorJson = JSON.stringify(failed.error);
      if (failed.status === 'failed') {
        this.db.sql.markFailed.run({ seq: row.seq, error: errorJson, now });
      } else {
        if (failed.replan) {
          const { plan, modelUsed, requirements } = failed.replan;
          const body = JSON.parse(row.body) as JobBody;
          const replanned: JobBody = { ...body, plan, request: { ...body.request, requirements } };
          this.db.sql.replan.run({ seq: row.seq, model_used: modelUsed, body: JSON.stringify(replanned) });
        }
        this.db.sql.markRequeued.run({ seq: row.seq, error: errorJson, now });
      }
      this.db.addTimeline(row.seq, failed.timeline);
      return this.db.jobAt(row.seq);
    });
  }

  async setWaitingForModel(id: string, options: WaitForModelOptions): Promise<Job> {
    const now = this.clock.now();
    return this.db.write(() => {
      const row = this.db.requireRow(id);
      const parked = waitForModel(factsOf(row), options, now);
      this.db.sql.markWaiting.run({ seq: row.seq, waiting_for: parked.waitingFor, attempts: parked.attempts, now });
      this.db.addTimeline(row.seq, parked.timeline);
      return this.db.jobAt(row.seq);
    });
  }

  async releaseWaiting(modelId: string, now?: number): Promise<Job[]> {
    const at = now ?? this.clock.now();
    return this.db.write(() => {
      const rows = this.db.sql.waitingFor.all({ model: modelId }) as JobRow[];
      for (const row of rows) {
        this.db.sql.markReleased.run({ seq: row.seq, now: at });
        this.db.addTimeline(row.seq, releaseJob(modelId, at).timeline);
      }
      return rows.map((row) => this.db.jobAt(row.seq));
    });
  }

  async cancel(id: string, reason: string, options: { ifState?: JobState } = {}): Promise<Job> {
    const now = this.clock.now();
    return this.db.write(() => {
      const row = this.db.requireRow(id);
      const cancelled = cancelJob(factsOf(row), reason, now, options.ifState);
      this.db.sql.markCancelled.run({ seq: row.seq, error: JSON.stringify(cancelled.error), now });
      this.db.addTimeline(row.seq, cancelled.timeline);
      return this.db.jobAt(row.seq);
    });
  }

  async expireDue(now?: number, options: ExpireOptions = {}): Promise<Job[]> {
    const at = now ?? this.clock.now();
    const states = options.states ?? WAITING_JOB_STATES;
    return this.db.write(() => {
      const rows = (this.db.sql.due.all({ now: at }) as JobRow[]).filter((row) => (states as readonly JobState[]).includes(row.status));
      for (const row of rows) {
        const expired = expireJob(factsOf(row), at);
        this.db.sql.markExpired.run({ seq: row.seq, error: JSON.stringify(expired.error), now: at });
        this.db.addTimeline(row.seq, expired.timeline);
      }
      return rows.map((row) => this.db.jobAt(row.seq));
    });
  }

  async recoverLapsedLeases(now?: number): Promise<Job[]> {
    const at = now ?? this.clock.now();
    return this.db.write(() => {
      const rows = this.db.sql.lapsed.all({ now: at }) as JobRow[];
      for (const row of rows) {
        const lapsed = lapseLease(factsOf(row), at);
        const error = lapsed.error === null ? null : JSON.stringify(lapsed.error);
        if (lapsed.status === 'queued') this.db.sql.markRequeued.run({ seq: row.seq, error, now: at });
        else this.db.sql.markFailed.run({ seq: row.seq, error, now: at });
        this.db.addTimeline(row.seq, lapsed.timeline);
      }
      return rows.map((row) => this.db.jobAt(row.seq));
    });
  }

  async purgeFinished(olderThan?: number): Promise<number> {
    const before = olderThan ?? this.clock.now() - this.retentionMs;
    return this.db.write(() => this.db.sql.purge.run({ before }).changes);
  }

  // counts() and queueSnapshot() are one statement each, consistent on its own: no transaction around them.
  async counts(): Promise<Record<JobState, number>> {
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const { status, n } of this.db.sql.counts.all() as Array<{ status: JobState; n: number }>) counts[status] = n;
    return counts;
  }

  async queueSnapshot(): Promise<QueueSnapshot> {
    const takenAt = this.clock.now();
    const byModel: Record<string, ModelQueueCounts> = {};
    let total = 0;
    for (const g of this.db.sql.snapshot.all() as Array<{ status: JobState; model: string; priority_rank: number; n: number }>) {
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
    return (this.db.sql.oldestWaiting.get() as { at: number | null }).at;
  }

  /** Waits for pending syncs (the last connection's close removes the log), then closes the database. */
  close(): Promise<void> {
    return this.db.close();
  }

  private waitingCount(): number {
    const row = this.db.sql.waitingCount.get() as { n: number };
    return row.n;
  }

  private agingParams(now: number): Record<string, number> {
    return this.agingSeconds > 0 ? { now, aging: this.agingSeconds } : { now };
  }

  /** The ids of queued jobs' models that are ready. */
  private readyModelIds(ready: NonNullable<ClaimOptions['readyModels']>): string[] {
    if (typeof ready !== 'function') return [...ready];
    const queuedModels = (this.db.sql.queuedModels.all() as Array<{ model: string }>).map((r) => r.model);
    return queuedModels.filter((m) => ready(m));
  }

  /** The 1-based place of a queued job at `now`, counted lane by lane with index ranges (core's queuedAhead). */
  private positionOf(row: JobRow, now: number): number {
    const rank = effectiveRank({ priority: PRIORITIES[row.priority_rank] as Priority, queuedAt: row.created_at, sequence: row.seq }, now, this.agingSeconds);
    const ahead = queuedAhead(rank, now, this.agingSeconds, PRIORITIES.length, (lane) => ({
      total: () => (this.db.sql.laneTotal.get({ lane }) as { n: number }).n,
      before: () =>
        (this.db.sql.laneTotal.get({ lane }) as { n: number }).n -
        (this.db.sql.laneFrom.get({ lane, created_at: row.created_at, seq: row.seq }) as { n: number }).n,
      upTo: (upTo) => (this.db.sql.laneUpTo.get({ lane, upTo }) as { n: number }).n,
    }));
    return ahead + 1;
  }
}

function zeroByPriority(): Record<Priority, number> {
  return Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
}
