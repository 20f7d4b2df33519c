import type { FallbackStrategy } from '../core/planning.js';
import type { GenerationRequirements } from '../core/requirements.js';
import type { FailureType, Priority } from '../core/vocabulary.js';

/** Every state a job can be in. */
export const JOB_STATES = ['queued', 'waiting_for_model', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States a job never leaves. */
export const TERMINAL_JOB_STATES = ['succeeded', 'failed', 'cancelled', 'expired'] as const satisfies readonly JobState[];
export type TerminalJobState = (typeof TERMINAL_JOB_STATES)[number];

/** States of a job waiting to run; they count against the queue's size. */
export const WAITING_JOB_STATES = ['queued', 'waiting_for_model'] as const satisfies readonly JobState[];
export type WaitingJobState = (typeof WAITING_JOB_STATES)[number];

/** Whether `state` is final. */
export function isTerminalJobState(state: JobState): state is TerminalJobState {
  return (TERMINAL_JOB_STATES as readonly JobState[]).includes(state);
}

/** Kinds of timeline entry, in the order a job usually meets them. */
export const TIMELINE_KINDS = [
  'accepted',
  'planned',
  'estimate',
  'queued',
  'waiting_for_model',
  'download_placed',
  'started',
  'progress',
  'failed',
  'recovery_attempt',
  'replanned',
  'requeued',
  'lease_lapsed',
  'succeeded',
  'cancelled',
  'expired',
] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

/** One step in a job's life, in plain words, with the facts behind it. */
export interface TimelineEntry {
  /** Epoch milliseconds. */
  at: number;
  kind: TimelineKind;
  message: string;
  data?: Record<string, unknown>;
}

/** The input image, referred to by where it is or by its digest; never the bytes. */
export type ImageReference = { path: string; sha256?: string } | { path?: string; sha256: string };

/** What the user asked for. */
export interface JobRequest {
  /** Text prompt; empty when the request has no text. */
  prompt: string;
  /** What the video should avoid; the backend's default when omitted. */
  negativePrompt?: string;
  /** Noise seed, so that a result can be made again; the backend picks one when omitted. */
  seed?: number;
  image?: ImageReference;
  /** The requirements as accepted, including the priority. */
  requirements: GenerationRequirements;
}

/** A worker's claim on a running job. */
export interface JobLease {
  owner: string;
  /** Epoch milliseconds; the lease has lapsed at or after this time unless renewed. */
  expiresAt: number;
}

/** The file a successful job produced. */
export interface JobOutput {
  path: string;
  mediaType: string;
  sizeBytes: number;
  /** True when the output is a labelled preview, not a generated video. */
  isPreview: boolean;
}

/** Why a job failed, expired or was cancelled. */
export interface JobError {
  failureType?: FailureType;
  message: string;
  /** What decided the failure type (the classifier's rule and the text it matched). */
  evidence?: Record<string, unknown>;
}

/** A generation request the engine has accepted, with its plan, its state and its history. */
export interface Job {
  id: string;
  /** Acceptance order across the store: breaks ties between jobs accepted in the same millisecond. */
  sequence: number;
  status: JobState;
  /** The model the user asked for. */
  requestedModel: string;
  /** The model the current plan runs on (the requested one, an alternative, or `preview`). */
  modelUsed: string;
  /** While `waiting_for_model`: the model the job waits for; otherwise null. */
  waitingFor: string | null;
  request: JobRequest;
  plan: FallbackStrategy;
  priority: Priority;
  /** Epoch milliseconds the job was accepted; queue order and aging count from here, so a requeued job keeps its place. */
  createdAt: number;
  updatedAt: number;
  /** Epoch milliseconds after which a job that has not started expires; null for no limit. */
  deadline: number | null;
  /** Runs started so far (claims, including one under way). */
  attempts: number;
  maxAttempts: number;
  lease: JobLease | null;
  /** 0 to 1, of the current attempt. */
  progress: number;
  progressMessage: string | null;
  output: JobOutput | null;
  error: JobError | null;
  timeline: TimelineEntry[];
  /** The job this one was created from, when it was. */
  parentJobId?: string;
  /** For the requested-model job of a hybrid plan: the id of the alternative job that runs first. */
  hybridOf?: string;
}

/** What is needed to accept a job; the store fills in the rest. */
export interface NewJob {
  /** Default: a random UUID. */
  id?: string;
  request: JobRequest;
  plan: FallbackStrategy;
  /** Model the job runs on; default `plan.model`. */
  modelUsed?: string;
  /** `queued` (default) or `waiting_for_model`, which keeps the job out of claims until its model is released. */
  initialState?: WaitingJobState;
  /** Model a `waiting_for_model` job waits for; default `modelUsed`. */
  waitingFor?: string;
  /** Epoch milliseconds it was accepted; default the store clock's now. */
  acceptedAt?: number;
  /** Epoch milliseconds; default `acceptedAt + maxWaitTimeSeconds`, or null when the requirements set no limit. */
  deadline?: number | null;
  /** Default: the store's maxAttempts. */
  maxAttempts?: number;
  parentJobId?: string;
  hybridOf?: string;
}

/** A new plan to run a job's next attempt with. */
export interface Replan {
  plan: FallbackStrategy;
  modelUsed: string;
  requirements: GenerationRequirements;
}

/** Whether the latest attempt of `job` was started by a backend of worker `workerId` (owners are `<worker>/<backend>`). */
export function lastStartedBy(job: Pick<Job, 'timeline'>, workerId: string): boolean {
  const started = job.timeline.findLast((e) => e.kind === 'started');
  const owner = started?.data?.owner;
  return typeof owner === 'string' && owner.startsWith(`${workerId}/`);
}
