/**
 * How a job is laid out in its Redis hash, and how the hash becomes a job. Field names are short and stable: the Lua
 * scripts read `status`, `rank`, `model`, `waitingFor`, `createdAt`, `seq`, `deadline`, `leaseExpiresAt`,
 * `updatedAt` and `rev` to keep the indexes. A field that is absent is null.
 */
import { PRIORITIES, type Priority } from '../../core/vocabulary.js';
import type { Job, JobError, JobOutput, JobState, TimelineEntry } from '../../runtime/job.js';
import type { JobBody } from '../../runtime/job-store.js';
import type { JobFacts } from '../../runtime/job-transitions.js';

export type { JobBody };

/** A job's hash as read back: field name to value. */
export type JobHash = Record<string, string>;

/** The fields a change writes: a value, or null to delete the field. */
export type JobFields = Record<string, string | number | null>;

/** A job's hash and timeline as the scripts return them. */
export interface StoredJob {
  hash: JobHash;
  timeline: string[];
}

/** Turns HGETALL's flat [field, value, ...] reply into a record. */
export function hashOf(flat: readonly string[]): JobHash {
  const hash: JobHash = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i] as string] = flat[i + 1] as string;
  return hash;
}

function numberOr(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : Number(value);
}

function nullableNumber(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

function lease(hash: JobHash): Job['lease'] {
  const expiresAt = nullableNumber(hash.leaseExpiresAt);
  return hash.leaseOwner !== undefined && expiresAt !== null ? { owner: hash.leaseOwner, expiresAt } : null;
}

function parsed<T>(value: string | undefined): T | null {
  return value === undefined ? null : (JSON.parse(value) as T);
}

/** The job's revision: every change increments it, so that a change decided on a stale read is refused. */
export function revisionOf(hash: JobHash): number {
  return numberOr(hash.rev, 0);
}

/** The lock token of the claim the job runs under (BullMQ's lock), or null. */
export function leaseTokenOf(hash: JobHash): string | null {
  return hash.leaseToken ?? null;
}

/** What the lifecycle needs of a record. */
export function factsOf(hash: JobHash): JobFacts {
  return {
    id: hash.id as string,
    status: hash.status as JobState,
    modelUsed: hash.model as string,
    waitingFor: hash.waitingFor ?? null,
    attempts: numberOr(hash.attempts, 0),
    maxAttempts: numberOr(hash.maxAttempts, 1),
    lease: lease(hash),
    progressMessage: hash.progressMessage ?? null,
    deadline: nullableNumber(hash.deadline),
    createdAt: numberOr(hash.createdAt, 0),
    error: parsed<JobError>(hash.error),
  };
}

/** A record and its timeline as a job. */
export function toJob({ hash, timeline }: StoredJob): Job {
  const body = JSON.parse(hash.body as string) as JobBody;
  const facts = factsOf(hash);
  const job: Job = {
    id: facts.id,
    sequence: numberOr(hash.seq, 0),
    status: facts.status,
    requestedModel: body.requestedModel,
    modelUsed: facts.modelUsed,
    waitingFor: facts.waitingFor,
    request: body.request,
    plan: body.plan,
    priority: PRIORITIES[numberOr(hash.rank, 2)] as Priority,
    createdAt: facts.createdAt,
    updatedAt: numberOr(hash.updatedAt, facts.createdAt),
    deadline: facts.deadline,
    attempts: facts.attempts,
    maxAttempts: facts.maxAttempts,
    lease: facts.lease,
    progress: numberOr(hash.progress, 0),
    progressMessage: facts.progressMessage,
    output: parsed<JobOutput>(hash.output),
    error: facts.error,
    timeline: timeline.map((entry) => JSON.parse(entry) as TimelineEntry),
  };
  if (body.parentJobId !== undefined) job.parentJobId = body.parentJobId;
  if (body.hybridOf !== undefined) job.hybridOf = body.hybridOf;
  return job;
}

/** Timeline entries as the timeline list stores them. */
export function timelineValues(entries: readonly TimelineEntry[]): string[] {
  return entries.map((entry) => JSON.stringify(entry));
}

/** The fields that end a lease (succeeded, failed, requeued, parked, cancelled). */
export const NO_LEASE: JobFields = { leaseOwner: null, leaseExpiresAt: null, leaseToken: null };
