/** The job store's SQL, prepared once per connection. */
import type Database from 'better-sqlite3';
import { PRIORITIES } from '../../core/vocabulary.js';

/** The names of the store's statements. */
export type JobStatementName =
  | 'selectById'
  | 'selectBySeq'
  | 'insertJob'
  | 'insertTimeline'
  | 'timelines'
  | 'listOldestFirst'
  | 'listNewestFirst'
  | 'queuedOrder'
  | 'waitingOrder'
  | 'queuedHead'
  | 'candidates'
  | 'readyCandidates'
  | 'queuedModels'
  | 'waitingCount'
  | 'markRunning'
  | 'renewLease'
  | 'setProgress'
  | 'touch'
  | 'markSucceeded'
  | 'markFailed'
  | 'markRequeued'
  | 'replan'
  | 'markWaiting'
  | 'waitingFor'
  | 'markReleased'
  | 'markCancelled'
  | 'due'
  | 'markExpired'
  | 'lapsed'
  | 'purge'
  | 'counts'
  | 'oldestWaiting'
  | 'snapshot'
  | 'laneTotal'
  | 'laneUpTo'
  | 'laneFrom';

/** The prepared statements of one connection. */
export type JobStatements = Record<JobStatementName, Database.Statement>;

/** Every statement the store runs; `agingSeconds` > 0 orders the queue by priority after aging. */
export function prepareJobStatements(db: Database.Database, agingSeconds: number): JobStatements {
  const effectiveRank =
    agingSeconds > 0 ? 'MAX(0, priority_rank - CAST(MAX(0, @now - created_at) / 1000.0 / @aging AS INTEGER))' : 'priority_rank';
  // The head of each priority lane, in (created_at, seq) order, is the best job of that lane: an older job has aged
  // at least as much. So the first `take` jobs in queue order are among the first `take` of each lane, and each lane
  // is one range of the jobs_queue index, however long the queue.
  const lanes = (columns: string, filter: string): string =>
    `SELECT * FROM (` +
    PRIORITIES.map(
      (_, rank) =>
        `SELECT * FROM (SELECT ${columns}, ${effectiveRank} AS eff_rank FROM jobs ` +
        `WHERE status = 'queued' AND priority_rank = ${rank}${filter} ORDER BY created_at, seq LIMIT @take)`,
    ).join(' UNION ALL ') +
    `) ORDER BY eff_rank, created_at, seq LIMIT @take`;
  const claimable = (filter: string): string => lanes('seq, model_used, created_at', ` AND (deadline IS NULL OR deadline > @now)${filter}`);
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
    queuedHead: db.prepare(lanes('*', '')),
    candidates: db.prepare(claimable('')),
    readyCandidates: db.prepare(claimable(' AND model_used IN (SELECT value FROM json_each(@ready))')),
    queuedModels: db.prepare("SELECT DISTINCT model FROM job_queue_counts WHERE status = 'queued' AND n > 0"),
    waitingCount: db.prepare("SELECT SUM(n) AS n FROM job_state_counts WHERE status IN ('queued', 'waiting_for_model')"),
    markRunning: db.prepare(
      `UPDATE jobs SET status = 'running', attempts = @attempts, lease_owner = @owner, lease_expires_at = @expires_at,
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
