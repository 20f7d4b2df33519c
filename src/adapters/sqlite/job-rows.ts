/** How a job is laid out in SQLite rows, and how rows become jobs. */
import { PRIORITIES, type Priority } from '../../core/vocabulary.js';
import type { Job, JobError, JobOutput, JobState, TimelineEntry, TimelineKind } from '../../runtime/job.js';
import type { JobBody } from '../../runtime/job-store.js';
import type { JobFacts } from '../../runtime/job-transitions.js';
import { upgradeLegacyNames } from '../../core/legacy-record-names.js';

/** A row of the `jobs` table. */
export interface JobRow {
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

export type { JobBody };

/** A row of the `job_timeline` table. */
export interface TimelineRow {
  job_seq: number;
  at: number;
  kind: TimelineKind;
  message: string;
  data: string | null;
}

/** What the lifecycle needs of a row, read without parsing its JSON. */
export function factsOf(row: JobRow): JobFacts {
  return {
    id: row.id,
    status: row.status,
    modelUsed: row.model_used,
    waitingFor: row.waiting_for,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    lease: leaseOf(row),
    progressMessage: row.progress_message,
    deadline: row.deadline,
    createdAt: row.created_at,
    error: row.error === null ? null : (JSON.parse(row.error) as JobError),
  };
}

function leaseOf(row: JobRow): Job['lease'] {
  return row.lease_owner !== null && row.lease_expires_at !== null ? { owner: row.lease_owner, expiresAt: row.lease_expires_at } : null;
}

/** A row's timeline entry as a job shows it. */
export function timelineEntryOf(t: TimelineRow): TimelineEntry {
  const entry: TimelineEntry = { at: t.at, kind: t.kind, message: t.message };
  if (t.data !== null) entry.data = JSON.parse(t.data) as Record<string, unknown>;
  return entry;
}

/** A row and its timeline as a job. */
export function toJob(row: JobRow, timeline: TimelineEntry[]): Job {
  const body = JSON.parse(row.body) as JobBody;
  const { request, plan } = upgradeLegacyNames(body.request, body.plan);
  const job: Job = {
    id: row.id,
    sequence: row.seq,
    status: row.status,
    requestedModel: body.requestedModel,
    modelUsed: row.model_used,
    waitingFor: row.waiting_for,
    request,
    plan,
    priority: PRIORITIES[row.priority_rank] as Priority,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deadline: row.deadline,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    lease: leaseOf(row),
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
