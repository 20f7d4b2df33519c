import type { Clock } from '../core/clock.js';
import type { Priority } from '../core/vocabulary.js';
import { InvalidCursorError } from './job-store-errors.js';
import type { Job, JobError, JobLease, JobOutput, JobRequest, JobState, NewJob, Replan, TimelineEntry, WaitingJobState } from './job.js';

export * from './job-store-errors.js';

/** Options every job store takes. */
export interface JobStoreOptions {
  /** The only source of time; a store never reads the wall clock. */
  clock: Clock;
  /** Most jobs waiting (queued or waiting_for_model) at once (default 100). */
  maxQueueSize?: number;
  /** Seconds of waiting that raise a job one priority level; 0 turns aging off (default 600, one level per 10 min). */
  agingSeconds?: number;
  /** How long a claim lasts unless renewed, milliseconds (default 60 000). */
  leaseMs?: number;
  /** Runs a job gets before it fails for good (default 3). */
  maxAttempts?: number;
  /** How long finished jobs are kept before {@link JobStore.purgeFinished} removes them, milliseconds (default 7 days). */
  retentionMs?: number;
  /** Retry hint given with a QueueFullError, seconds (default 300). */
  retryAfterSeconds?: number;
}

/** The documented defaults of {@link JobStoreOptions}. */
export const JOB_STORE_DEFAULTS = {
  maxQueueSize: 100,
  agingSeconds: 600,
  leaseMs: 60_000,
  maxAttempts: 3,
  retentionMs: 7 * 24 * 3600 * 1000,
  retryAfterSeconds: 300,
} as const satisfies Required<Omit<JobStoreOptions, 'clock'>>;

/** Which models can run now: a set of model ids, or a test on one. */
export type ReadyModels = ReadonlySet<string> | ((modelId: string) => boolean);

/** How a worker asks for its next job. */
export interface ClaimOptions {
  /** Who runs the job, e.g. `worker-1`; only this owner may renew, report on, complete or fail it. */
  owner: string;
  /** Default: the store's leaseMs. */
  leaseMs?: number;
  /** Default: the store clock's now. */
  now?: number;
  /** Only jobs whose model is ready are claimed; default: every model is. */
  readyModels?: ReadyModels;
  /**
   * Model affinity: take the first job for `modelId` (e.g. the model already loaded) if at most `maxSkip` jobs of the
   * same effective priority come before it. Affinity never lets a job pass one of a more urgent priority.
   */
  preferModel?: { modelId: string; maxSkip: number };
}

/**
 * What every store keeps of a job as one JSON value beside its indexed fields: read with the job, never queried (the
 * request carries seed and negative prompt).
 */
export interface JobBody {
  requestedModel: string;
  request: JobRequest;
  plan: Job['plan'];
  parentJobId?: string;
  hybridOf?: string;
}

/** A page of a listing. */
export interface ListOptions {
  /** Only jobs in this state or these states; default all. */
  status?: JobState | readonly JobState[];
  /** Most jobs returned (default 50, at most 1000). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Acceptance order (default `oldest_first`). */
  order?: 'oldest_first' | 'newest_first';
}

/** One page of jobs, and the cursor of the next one (null on the last page). */
export interface JobPage {
  jobs: Job[];
  nextCursor: string | null;
}

/**
 * A `nextCursor` of {@link JobStore.list} as the acceptance sequence number it stands for: every store pages by
 * sequence. Throws an InvalidCursorError for anything else.
 */
export function parseSequenceCursor(cursor: string): number {
  const seq = Number(cursor);
  if (!/^\d+$/.test(cursor) || !Number.isSafeInteger(seq)) throw new InvalidCursorError(cursor);
  return seq;
}

/** Waiting jobs in the order they will run. */
export interface QueueOrderOptions {
  /** Default `queued`. */
  status?: WaitingJobState;
  /** Time aging is computed at; default the store clock's now. */
  now?: number;
  /** Default: all. */
  limit?: number;
}

/** How a failed attempt ends. */
export interface FailOptions {
  /** Whether another attempt may follow; it does only while attempts < maxAttempts. */
  retry: boolean;
  /** Run the next attempt on this plan instead. */
  replan?: Replan;
}

/** What to put a job in `waiting_for_model` for. */
export interface WaitForModelOptions {
  modelId: string;
  /** Why, in plain words, for the timeline. */
  message: string;
  /** Required when the job is running: the lease owner, who gives the job back (the claim is not counted as an attempt). */
  owner?: string;
}

/** Which waiting jobs to expire. */
export interface ExpireOptions {
  /** Default: both waiting states. */
  states?: readonly WaitingJobState[];
}

/** Waiting jobs of one model, by priority. */
export interface ModelQueueCounts {
  queued: Record<Priority, number>;
  waitingForModel: Record<Priority, number>;
  total: number;
}

/** A model's jobs waiting for it to become ready, all priorities together. */
export function waitingForModelTotal(counts: ModelQueueCounts): number {
  return Object.values(counts.waitingForModel).reduce((a, b) => a + b, 0);
}

/** Waiting jobs by model (the model they run on or wait for) and priority: what the planner needs for queueAhead. */
export interface QueueSnapshot {
  takenAt: number;
  byModel: Record<string, ModelQueueCounts>;
  total: number;
}

/**
 * Port: where accepted jobs live, durably. Every method is async so that stores on other machines (Redis) fit; each
 * resolves only after its change is stored durably. An adapter may relax that for claims, lease renewals and progress
 * only, whose loss in a machine crash leaves a job that a lapsed lease or the queue already covers. Methods that change
 * a running job take the lease owner and reject with a {@link LeaseLostError} when the job is no longer running under
 * that owner (cancelled, lapsed and requeued, ...).
 */
export interface JobStore {
  /** Most jobs waiting at once. */
  readonly maxQueueSize: number;
  /** Accepts a job; resolves once it is durable. Rejects with a QueueFullError (waiting ≥ maxQueueSize) or a JobAlreadyExistsError. */
  enqueue(job: NewJob): Promise<Job>;
  /**
   * Optional: {@link JobStore.enqueue} that also resolves with the job's {@link JobStore.queuePosition} read with the
   * insert (in its transaction), so it is the place the job was given even when a worker claims it before the caller
   * could ask. Without it the engine calls enqueue, then queuePosition.
   */
  enqueueWithPosition?(job: NewJob): Promise<{ job: Job; queuePosition: number | null }>;
  /** The job, or null when there is none with this id. */
  get(id: string): Promise<Job | null>;
  /** Jobs in acceptance order, a page at a time. */
  list(options?: ListOptions): Promise<JobPage>;
  /** Waiting jobs in the order they will be claimed (aging applied). */
  listQueue(options?: QueueOrderOptions): Promise<Job[]>;
  /** 1-based place of a queued job in claim order at `now` (aging applied); null when it is not queued. */
  queuePosition(id: string, now?: number): Promise<number | null>;
  /** Atomically takes the first ready job in queue order, running it under a lease; null when none is ready. */
  claimNext(options: ClaimOptions): Promise<Job | null>;
  /** Extends the lease of a running job; resolves with the new lease. */
  renewLease(id: string, owner: string, now?: number, leaseMs?: number): Promise<JobLease>;
  /** Records the progress (0 to 1, clamped) of a running job; a new message is added to the timeline. */
  updateProgress(id: string, owner: string, progress: number, message?: string): Promise<void>;
  /** Adds an entry to a job's timeline; `at` defaults to now. */
  appendTimeline(id: string, entry: Omit<TimelineEntry, 'at'> & { at?: number }): Promise<TimelineEntry>;
  /** Marks a running job succeeded with its output. */
  complete(id: string, owner: string, output: JobOutput): Promise<Job>;
  /** Ends a running job's attempt: queued again when `retry` and attempts remain, failed otherwise. */
  fail(id: string, owner: string, error: JobError, options: FailOptions): Promise<Job>;
  /** Parks a queued (or, by its owner, a running) job until `releaseWaiting(modelId)`. */
  setWaitingForModel(id: string, options: WaitForModelOptions): Promise<Job>;
  /** Queues every job waiting for `modelId`, which has become ready; resolves with them. */
  releaseWaiting(modelId: string, now?: number): Promise<Job[]>;
  /**
   * Cancels a job in any non-terminal state. A running job's worker finds out when its next renew, progress, complete
   * or fail is refused. With `ifState`, cancels only a job in that state (else InvalidTransitionError).
   */
  cancel(id: string, reason: string, options?: { ifState?: JobState }): Promise<Job>;
  /** Expires waiting jobs whose deadline is at or before `now`, with the reason; resolves with them. */
  expireDue(now?: number, options?: ExpireOptions): Promise<Job[]>;
  /** Requeues running jobs whose lease lapsed at or before `now` (the attempt counts), or fails them when attempts are spent. */
  recoverLapsedLeases(now?: number): Promise<Job[]>;
  /** Deletes finished jobs last updated before `olderThan` (default: now − retention); resolves with how many. */
  purgeFinished(olderThan?: number): Promise<number>;
  /** Number of jobs in each state. */
  counts(): Promise<Record<JobState, number>>;
  /** Waiting jobs by model and priority. */
  queueSnapshot(): Promise<QueueSnapshot>;
  /** Epoch milliseconds the longest-waiting job (queued or waiting for a model) was accepted; null when none waits. */
  oldestWaitingAcceptedAt(): Promise<number | null>;
  /** Releases the store's resources; further calls fail. */
  close(): Promise<void>;
}
