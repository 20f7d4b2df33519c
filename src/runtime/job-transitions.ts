/**
 * The job lifecycle: pure functions that decide, for a job and what happened to it, its next state, whether the
 * attempt counts, and the timeline entries (kind, message, data). A job store only persists what they decide, so
 * every store (SQLite, Redis) gives a job the same life and the same history. They read no clock and store nothing.
 */
import { formatBytes, formatDuration } from '../core/estimates.js';
import { priorityRank } from '../core/vocabulary.js';
import {
  isTerminalJobState,
  type Job,
  type JobError,
  type JobLease,
  type JobOutput,
  type JobState,
  type NewJob,
  type Replan,
  type TimelineEntry,
  type TimelineKind,
  type WaitingJobState,
} from './job.js';
import { InvalidTransitionError, LeaseLostError, QueueFullError } from './job-store-errors.js';

/** What the lifecycle reads of a stored job: its state, not its request or plan. */
export type JobFacts = Pick<
  Job,
  'id' | 'status' | 'modelUsed' | 'waitingFor' | 'attempts' | 'maxAttempts' | 'lease' | 'progressMessage' | 'deadline' | 'createdAt' | 'error'
>;

/** A timeline entry as decided; `data` is plain JSON. */
function entry(at: number, kind: TimelineKind, message: string, data?: Record<string, unknown>): TimelineEntry {
  return data === undefined ? { at, kind, message } : { at, kind, message, data };
}

/** Refuses a job when `waiting` jobs already fill the queue. */
export function admitToQueue(waiting: number, maxQueueSize: number, retryAfterSeconds: number): void {
  if (waiting >= maxQueueSize) throw new QueueFullError(waiting, maxQueueSize, retryAfterSeconds);
}

/** A new job as the lifecycle accepts it; the store adds its id and sequence. */
export interface Acceptance {
  status: WaitingJobState;
  requestedModel: string;
  modelUsed: string;
  waitingFor: string | null;
  priorityRank: number;
  /** Epoch ms; null for no limit. */
  deadline: number | null;
  maxAttempts: number;
  timeline: TimelineEntry[];
}

/** Accepts `newJob` at `at` (epoch ms): its first state, deadline, attempt budget and first timeline entries. */
export function acceptJob(newJob: NewJob, at: number, defaultMaxAttempts: number): Acceptance {
  const maxAttempts = newJob.maxAttempts ?? defaultMaxAttempts;
  requirePositiveInteger(maxAttempts, 'maxAttempts');
  const requirements = newJob.request.requirements;
  const deadline =
    newJob.deadline !== undefined
      ? newJob.deadline
      : requirements.maxWaitTimeSeconds !== undefined
        ? at + Math.round(requirements.maxWaitTimeSeconds * 1000)
        : null;
  const modelUsed = newJob.modelUsed ?? newJob.plan.model;
  const status = newJob.initialState ?? 'queued';
  const waitingFor = status === 'waiting_for_model' ? (newJob.waitingFor ?? modelUsed) : null;
  const limit = deadline === null ? '' : `; must start by ${new Date(deadline).toISOString()}`;
  const plan = newJob.plan;
  return {
    status,
    requestedModel: requirements.modelType,
    modelUsed,
    waitingFor,
    priorityRank: priorityRank(requirements.priority),
    deadline,
    maxAttempts,
    timeline: [
      entry(at, 'accepted', `accepted for ${requirements.modelType} at ${requirements.priority} priority${limit}`, {
        requestedModel: requirements.modelType,
        priority: requirements.priority,
        deadline,
      }),
      entry(at, 'planned', `${plan.strategyType}: ${plan.userMessage}`, {
        strategyType: plan.strategyType,
        model: plan.model,
        confidenceScore: plan.confidenceScore,
        estimatedWaitTimeSeconds: plan.estimatedWaitTimeSeconds,
      }),
      waitingFor === null
        ? entry(at, 'queued', `queued for ${modelUsed}`)
        : entry(at, 'waiting_for_model', `waiting for ${waitingFor} to become ready`, { modelId: waitingFor }),
    ],
  };
}

/** Refuses, with a LeaseLostError, an act on a job that is not running under `owner`. */
export function requireLease(job: JobFacts, owner: string, attempted: string): void {
  if (job.status !== 'running' || job.lease?.owner !== owner) {
    throw new LeaseLostError(job.id, owner, job.status, job.lease?.owner ?? null, attempted);
  }
}

/** A claim: the attempt it starts (it counts) and the lease it runs under. */
export interface Claim {
  attempts: number;
  lease: JobLease;
  timeline: TimelineEntry[];
}

/** A queued job claimed by `owner` at `now`; `skippedForAffinity` counts the jobs model affinity passed. */
export function claimJob(job: JobFacts, owner: string, now: number, leaseMs: number, skippedForAffinity = 0): Claim {
  if (job.status !== 'queued') throw new InvalidTransitionError(job.id, job.status, 'claim');
  const attempts = job.attempts + 1;
  const lease = { owner, expiresAt: now + leaseMs };
  return {
    attempts,
    lease,
    timeline: [
      entry(now, 'started', `attempt ${attempts} of ${job.maxAttempts} started by ${owner} on ${job.modelUsed}`, {
        owner,
        attempt: attempts,
        model: job.modelUsed,
        leaseExpiresAt: lease.expiresAt,
        ...(skippedForAffinity > 0 ? { skippedForAffinity } : {}),
      }),
    ],
  };
}

/** A lease renewed by its owner at `now`. */
export function renewJobLease(job: JobFacts, owner: string, now: number, leaseMs: number): JobLease {
  requireLease(job, owner, 'renew the lease of');
  return { owner, expiresAt: now + leaseMs };
}

/** Progress reported by the lease owner: clamped to 0..1 (NaN refused); a new message goes on the timeline. */
export function reportProgress(
  job: JobFacts,
  owner: string,
  progress: number,
  message: string | undefined,
  now: number,
): { progress: number; progressMessage: string | null; timeline: TimelineEntry[] } {
  if (Number.isNaN(progress)) throw new RangeError('progress must be a number from 0 to 1, got NaN');
  requireLease(job, owner, 'report progress on');
  const clamped = Math.min(1, Math.max(0, progress));
  const isNew = message !== undefined && message !== job.progressMessage;
  return {
    progress: clamped,
    progressMessage: message ?? job.progressMessage,
    timeline: isNew ? [entry(now, 'progress', message, { progress: clamped })] : [],
  };
}

/** A running job's success, by its lease owner. The timeline names the output and the owner, never the output's path on disk. */
export function completeJob(job: JobFacts, owner: string, output: JobOutput, now: number): { timeline: TimelineEntry[] } {
  requireLease(job, owner, 'complete');
  const what = output.isPreview ? 'a labelled preview, not a generated video' : 'a video';
  return {
    timeline: [
      entry(now, 'succeeded', `succeeded on ${job.modelUsed} in attempt ${job.attempts}: ${what} (${output.mediaType}, ${formatBytes(output.sizeBytes)})`, {
        owner,
        model: job.modelUsed,
        attempt: job.attempts,
        mediaType: output.mediaType,
        sizeBytes: output.sizeBytes,
        isPreview: output.isPreview,
      }),
    ],
  };
}

/** How a failed attempt ends: queued again (on the same or a new plan) or failed for good. */
export interface FailedAttempt {
  status: 'queued' | 'failed';
  /** The new plan of the next attempt, when there is one. */
  replan?: Replan;
  /** The model the job runs on next (unchanged when it failed). */
  modelUsed: string;
  error: JobError;
  timeline: TimelineEntry[];
}

/** A running job's failed attempt: requeued when `retry` and attempts remain, failed otherwise. */
export function failAttempt(job: JobFacts, owner: string, error: JobError, options: { retry: boolean; replan?: Replan }, now: number): FailedAttempt {
  requireLease(job, owner, 'fail');
  const requeue = options.retry && job.attempts < job.maxAttempts;
  const outcome = requeue ? '' : options.retry ? '; no attempts left' : '; not retried';
  const timeline = [
    entry(now, 'failed', `attempt ${job.attempts} of ${job.maxAttempts} on ${job.modelUsed} failed: ${error.message}${outcome}`, {
      attempt: job.attempts,
      model: job.modelUsed,
      ...(error.failureType ? { failureType: error.failureType } : {}),
      ...(error.evidence ? { evidence: error.evidence } : {}),
    }),
  ];
  if (!requeue) return { status: 'failed', modelUsed: job.modelUsed, error, timeline };
  const replan = options.replan;
  if (replan) {
    timeline.push(entry(now, 'replanned', `replanned: ${replan.plan.recommendedAction}`, { strategyType: replan.plan.strategyType, model: replan.modelUsed }));
  }
  const modelUsed = replan?.modelUsed ?? job.modelUsed;
  timeline.push(entry(now, 'requeued', `queued again for attempt ${job.attempts + 1} of ${job.maxAttempts} on ${modelUsed}`));
  return { status: 'queued', ...(replan ? { replan } : {}), modelUsed, error, timeline };
}

/** Parks a job until its model is ready. A claim handed back by its owner for want of its model is not an attempt. */
export function waitForModel(
  job: JobFacts,
  options: { modelId: string; message: string; owner?: string },
  now: number,
): { attempts: number; waitingFor: string; timeline: TimelineEntry[] } {
  if (job.status === 'running') {
    if (options.owner === undefined) throw new InvalidTransitionError(job.id, job.status, 'park a running job without its lease owner');
    requireLease(job, options.owner, 'park');
  } else if (isTerminalJobState(job.status)) {
    throw new InvalidTransitionError(job.id, job.status, 'set waiting_for_model on');
  }
  return {
    attempts: job.status === 'running' ? job.attempts - 1 : job.attempts,
    waitingFor: options.modelId,
    timeline: [entry(now, 'waiting_for_model', options.message, { modelId: options.modelId })],
  };
}

/** A job waiting for `modelId`, queued now that the model is ready. */
export function releaseJob(modelId: string, now: number): { timeline: TimelineEntry[] } {
  return { timeline: [entry(now, 'queued', `${modelId} is ready; queued`, { modelId })] };
}

/** Cancels a job in any non-terminal state (with `ifState`, only in that state). */
export function cancelJob(job: JobFacts, reason: string, now: number, ifState?: JobState): { error: JobError; timeline: TimelineEntry[] } {
  if (ifState !== undefined && job.status !== ifState) throw new InvalidTransitionError(job.id, job.status, `cancel (only when ${ifState})`);
  if (isTerminalJobState(job.status)) throw new InvalidTransitionError(job.id, job.status, 'cancel');
  const where = job.status === 'running' ? ` while running on ${job.modelUsed} under ${job.lease?.owner ?? 'no owner'}` : ` while ${job.status}`;
  return {
    error: { message: reason },
    timeline: [entry(now, 'cancelled', `cancelled${where}: ${reason}`, { previousStatus: job.status })],
  };
}

/** A waiting job past its deadline, expired with the reason. */
export function expireJob(job: JobFacts, now: number): { error: JobError; timeline: TimelineEntry[] } {
  const deadline = job.deadline ?? now;
  const message =
    `not started by its deadline ${new Date(deadline).toISOString()} ` +
    `(${formatDuration((deadline - job.createdAt) / 1000)} after it was accepted); expired while ${job.status}`;
  return { error: { message }, timeline: [entry(now, 'expired', message, { deadline, previousStatus: job.status })] };
}

/** A running job whose lease lapsed (its worker stopped answering): the attempt counts; requeued while attempts remain. */
export function lapseLease(job: JobFacts, now: number): { status: 'queued' | 'failed'; error: JobError | null; timeline: TimelineEntry[] } {
  const owner = job.lease?.owner ?? 'no owner';
  const expiresAt = job.lease?.expiresAt ?? null;
  const lapsedAt = new Date(expiresAt ?? now).toISOString();
  const timeline = [
    entry(now, 'lease_lapsed', `the lease of ${owner} lapsed at ${lapsedAt} during attempt ${job.attempts} of ${job.maxAttempts}`, {
      owner,
      attempt: job.attempts,
      leaseExpiresAt: expiresAt,
    }),
  ];
  if (job.attempts < job.maxAttempts) {
    timeline.push(entry(now, 'requeued', `queued again for attempt ${job.attempts + 1} of ${job.maxAttempts} on ${job.modelUsed}`));
    return { status: 'queued', error: job.error, timeline };
  }
  const message = `the worker stopped answering during attempt ${job.attempts} of ${job.maxAttempts} (its lease lapsed); no attempts left`;
  timeline.push(entry(now, 'failed', message, { attempt: job.attempts }));
  return { status: 'failed', error: { message }, timeline };
}

/** Refuses a store option or job field that is not a whole number of 1 or more. */
export function requirePositiveInteger(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of 1 or more, got ${value}`);
}
