import type Database from 'better-sqlite3';

/** One step of the job store's schema; `version` is what `PRAGMA user_version` reads once it is applied. */
interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * v2's counted model of a waiting job, the columns read from `row` (`NEW`, `OLD`, or '' for the table's own): the
 * model a queued job runs on, the model a job waiting for one waits for.
 */
function countedModel(row: 'NEW' | 'OLD' | ''): string {
  const col = (name: string): string => (row ? `${row}.${name}` : name);
  return `CASE ${col('status')} WHEN 'queued' THEN ${col('model_used')} ELSE COALESCE(${col('waiting_for')}, ${col('model_used')}) END`;
}

/** v2's trigger step that counts the `NEW` row of a waiting job in. */
const countIn = (row: 'NEW'): string =>
  `INSERT INTO job_queue_counts (status, model, priority_rank, n)
          VALUES (${row}.status, ${countedModel(row)}, ${row}.priority_rank, 1)
          ON CONFLICT DO UPDATE SET n = n + 1;`;

/** v2's trigger step that counts the `OLD` row of a waiting job out. */
const countOut = (row: 'OLD'): string =>
  `UPDATE job_queue_counts SET n = n - 1
          WHERE status = ${row}.status AND priority_rank = ${row}.priority_rank
            AND model = ${countedModel(row)};`;

/**
 * The schema, oldest first. Never edit an applied migration: add a new one.
 *
 * v1: a job is a row with columns for what is queried (state, priority rank, model, times, lease, attempts) and JSON
 * for the rest (request and plan in `body`, `output`, `error`). The timeline is its own table so that appending is an
 * insert, not a rewrite of the job. `job_state_counts` is kept by triggers so that the queue-size check on every
 * enqueue and `counts()` read seven rows instead of counting the queue.
 *
 * v2: `job_queue_counts`, waiting jobs by state, model (the model a queued job runs on, the model a waiting job waits
 * for) and priority, kept by triggers, so that the planner's queue snapshot on every submit reads a few rows instead of
 * grouping the whole queue.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'jobs, timeline, state counts',
    sql: `
      CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL CHECK (status IN ('queued', 'waiting_for_model', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
        priority_rank INTEGER NOT NULL CHECK (priority_rank BETWEEN 0 AND 3),
        model_used TEXT NOT NULL,
        waiting_for TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        deadline INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        progress REAL NOT NULL DEFAULT 0,
        progress_message TEXT,
        body TEXT NOT NULL,
        output TEXT,
        error TEXT
      );
      -- Partial indexes: a job is in an index only while a query looks for it there, so a state change touches few
      -- pages and the finished history does not weigh on the queue. Queries name the same status terms so that
      -- SQLite can use them.
      -- claimNext reads the head of each priority lane in (created_at, seq) order.
      CREATE INDEX jobs_queue ON jobs (priority_rank, created_at, seq) WHERE status = 'queued';
      CREATE INDEX jobs_waiting_for ON jobs (waiting_for) WHERE status = 'waiting_for_model';
      CREATE INDEX jobs_deadline ON jobs (deadline) WHERE status IN ('queued', 'waiting_for_model');
      CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE status = 'running';
      CREATE INDEX jobs_finished ON jobs (updated_at) WHERE status IN ('succeeded', 'failed', 'cancelled', 'expired');

      CREATE TABLE job_timeline (
        id INTEGER PRIMARY KEY,
        job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT
      );
      CREATE INDEX job_timeline_job ON job_timeline (job_seq, id);

      CREATE TABLE job_state_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO job_state_counts (status, n) VALUES
        ('queued', 0), ('waiting_for_model', 0), ('running', 0), ('succeeded', 0), ('failed', 0), ('cancelled', 0), ('expired', 0);
      CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
        UPDATE job_state_counts SET n = n + 1 WHERE status = NEW.status;
      END;
      CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_state_counts SET n = n - 1 WHERE status = OLD.status;
      END;
      CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
        UPDATE job_state_counts SET n = n - 1 WHERE status = OLD.status;
        UPDATE job_state_counts SET n = n + 1 WHERE status = NEW.status;
      END;
    `,
  },
  {
    version: 2,
    description: 'queue counts by model and priority',
    sql: `
      CREATE TABLE job_queue_counts (
        status TEXT NOT NULL,
        model TEXT NOT NULL,
        priority_rank INTEGER NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (status, model, priority_rank)
      ) WITHOUT ROWID;
      INSERT INTO job_queue_counts (status, model, priority_rank, n)
        SELECT status, ${countedModel('')}, priority_rank, COUNT(*)
        FROM jobs WHERE status IN ('queued', 'waiting_for_model') GROUP BY 1, 2, 3;
      CREATE TRIGGER jobs_queue_count_insert AFTER INSERT ON jobs WHEN NEW.status IN ('queued', 'waiting_for_model') BEGIN
        ${countIn('NEW')}
      END;
      CREATE TRIGGER jobs_queue_count_delete AFTER DELETE ON jobs WHEN OLD.status IN ('queued', 'waiting_for_model') BEGIN
        ${countOut('OLD')}
      END;
      CREATE TRIGGER jobs_queue_count_leave AFTER UPDATE OF status, model_used, waiting_for, priority_rank ON jobs
        WHEN OLD.status IN ('queued', 'waiting_for_model') BEGIN
        ${countOut('OLD')}
      END;
      CREATE TRIGGER jobs_queue_count_enter AFTER UPDATE OF status, model_used, waiting_for, priority_rank ON jobs
        WHEN NEW.status IN ('queued', 'waiting_for_model') BEGIN
        ${countIn('NEW')}
      END;
    `,
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((latest, m) => Math.max(latest, m.version), 0);

/** Thrown when a database was written by a newer Understudy than this one. */
export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';

  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(`job database has schema version ${found}; this version of Understudy understands up to ${supported}`);
  }
}

/** Type guard for {@link SchemaTooNewError}. */
export function isSchemaTooNewError(error: unknown): error is SchemaTooNewError {
  return error instanceof SchemaTooNewError;
}

/**
 * Brings the database to {@link SCHEMA_VERSION}, each migration in its own immediate transaction together with its
 * `user_version`, so that a crash leaves the database at one version or the next, never between. Two processes
 * opening the same new file at once are safe: the second sees the version the first wrote.
 */
export function migrate(db: Database.Database): void {
  for (const migration of MIGRATIONS) {
    db.transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current > SCHEMA_VERSION) throw new SchemaTooNewError(current, SCHEMA_VERSION);
      if (current >= migration.version) return;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}
