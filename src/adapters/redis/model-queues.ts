/**
 * BullMQ's side of the Redis job store: one queue per model (`model.<id>`), consumed by manual processing. A queued
 * job is a BullMQ job in its model's queue whose data is just our id; a running one is active there under a lock
 * whose token is the lease token in our record. Jobs waiting for a model are in no queue, so nobody can claim them.
 *
 * BullMQ's own order inside a queue is a hint only (priority lanes, first come first served): the exact order, with
 * aging, decides from our indexes, and a claim moves the job it chose to the front (`changePriority` to 0, LIFO)
 * just before `getNextJob` takes it. BullMQ's locks (a Redis TTL) are the lease in real time, and its stalled-job
 * check gives back a crashed worker's job; {@link ModelQueuesOptions.onStalled} lets the store fix its record.
 */
import { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { bullJobId, modelQueueName } from './redis-keys.js';

/** Options of {@link ModelQueues}. */
export interface ModelQueuesOptions {
  /** The connection queues use (shared). */
  connection: Redis;
  /** A connection for BullMQ workers, which must wait through outages (`maxRetriesPerRequest: null`); opened on first claim. */
  workerConnection: () => Redis;
  /** BullMQ's key prefix. */
  prefix: string;
  /** Lock duration of a claim, ms: the store's lease. */
  lockMs: number;
  /** How often BullMQ's stalled-job check runs, ms; 0 runs none in this process. */
  stalledIntervalMs: number;
  /** Called with our job id when BullMQ's stalled-job check moved the job of `modelId` back to its queue. */
  onStalled(modelId: string, id: string): void;
  /** Errors BullMQ reports outside of a call (lost connections, a failed stalled check). */
  onError(error: Error): void;
}

/** Options every BullMQ job of ours is added with: BullMQ keeps no finished jobs, our records keep the history. */
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true } as const;

/** Our id from a BullMQ job id (the inverse of bullJobId). */
export function jobIdOf(bullId: string): string {
  return decodeURIComponent(bullId.startsWith('~') ? bullId.slice(1) : bullId);
}

/** Whether `error` is BullMQ's refusal of an act on a job's state (missing job, missing or mismatched lock, wrong state). */
export function isJobStateError(error: unknown): boolean {
  return typeof (error as { code?: unknown } | null)?.code === 'number';
}

/** Queues and workers of the models this process has met. */
export class ModelQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly workers = new Map<string, Worker>();
  private workerRedis: Redis | null = null;

  constructor(private readonly options: ModelQueuesOptions) {}

  /** Adds our job to its model's queue, at the back of its priority lane; a job already there is left as it is. */
  async add(modelId: string, id: string, rank: number): Promise<void> {
    await this.queue(modelId).add('generation', { id }, { ...JOB_OPTIONS, jobId: bullJobId(id), priority: rank + 1 });
  }

  /** Moves a waiting job to the front of its queue; false when the queue does not have it. */
  async toFront(modelId: string, id: string): Promise<boolean> {
    try {
      await this.handle(modelId, id).changePriority({ priority: 0, lifo: true });
      return true;
    } catch (error) {
      if (isJobStateError(error)) return false;
      throw error;
    }
  }

  /** Takes the front job of a model's queue under a lock with `token`; resolves with our id, or null when it is empty. */
  async take(modelId: string, token: string): Promise<string | null> {
    const job = (await this.worker(modelId).getNextJob(token, { block: false })) as Job | undefined;
    return job?.id === undefined ? null : jobIdOf(job.id);
  }

  /** Runs BullMQ's stalled-job check on the queues of these models from now on (when this process runs one). */
  watch(modelIds: readonly string[]): void {
    if (this.options.stalledIntervalMs > 0) for (const modelId of modelIds) this.worker(modelId);
  }

  /** Extends the lock of a job held with `token` to `ms` from now; false when the lock is gone or another's. */
  async extendLock(modelId: string, id: string, token: string, ms: number): Promise<boolean> {
    return Number(await this.handle(modelId, id).extendLock(token, ms)) === 1;
  }

  /** Puts a job held with `token` back in its queue; false when BullMQ refused (lock gone or another's, no job). */
  async giveBack(modelId: string, id: string, token: string): Promise<boolean> {
    try {
      await this.handle(modelId, id).moveToWait(token);
      return true;
    } catch (error) {
      if (isJobStateError(error)) return false;
      throw error;
    }
  }

  /** Ends a job held with `token` as completed, which removes it from BullMQ; false when BullMQ refused. */
  async finish(modelId: string, id: string, token: string): Promise<boolean> {
    try {
      await this.handle(modelId, id).moveToCompleted(null, token, false);
      return true;
    } catch (error) {
      if (isJobStateError(error)) return false;
      throw error;
    }
  }

  /**
   * Removes a job from its model's queue, whatever its state there: held with `token` it is failed (and so removed),
   * otherwise removed unless someone else holds its lock. A job that stays (locked by a worker that has not noticed
   * its cancel yet) is dropped when it is next taken, since its record no longer says it is queued.
   */
  async remove(modelId: string, id: string, token: string | null): Promise<void> {
    if (token !== null) {
      try {
        await this.handle(modelId, id).moveToFailed(new Error('no longer queued in the job store'), token);
        return;
      } catch (error) {
        if (!isJobStateError(error)) throw error;
      }
    }
    try {
      await this.queue(modelId).remove(bullJobId(id));
    } catch (error) {
      if (!isJobStateError(error)) throw error;
    }
  }

  /**
   * Puts back in its queue a job left active without a lock: its holder's lock ran out and a lapse recorded it as
   * queued, but the process died before giving it back (BullMQ's stalled check would free it only after two passes).
   * False when the job is not active there, or someone holds its lock (a claim under way).
   */
  async putBackStale(modelId: string, id: string, rank: number): Promise<boolean> {
    if ((await this.state(modelId, id)) !== 'active') return false;
    if (Number(await this.queue(modelId).remove(bullJobId(id))) !== 1) return false;
    await this.add(modelId, id, rank);
    return true;
  }

  /** BullMQ's state of a job in a model's queue (`waiting`, `prioritized`, `active`, `unknown`, ...). */
  async state(modelId: string, id: string): Promise<string> {
    return String(await this.queue(modelId).getJobState(bullJobId(id)));
  }

  /** Closes every queue and worker (their jobs and locks stay in Redis) and the worker connection. */
  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.workers.clear();
    this.queues.clear();
    this.workerRedis?.disconnect();
    this.workerRedis = null;
  }

  private queue(modelId: string): Queue {
    let queue = this.queues.get(modelId);
    if (!queue) {
      queue = new Queue(modelQueueName(modelId), { connection: this.options.connection, prefix: this.options.prefix });
      queue.on('error', (error) => this.options.onError(error));
      this.queues.set(modelId, queue);
    }
    return queue;
  }

  private worker(modelId: string): Worker {
    let worker = this.workers.get(modelId);
    if (!worker) {
      this.workerRedis ??= this.options.workerConnection();
      const stalledCheck = this.options.stalledIntervalMs > 0;
      worker = new Worker(modelQueueName(modelId), null, {
        connection: this.workerRedis,
        prefix: this.options.prefix,
        autorun: false,
        lockDuration: this.options.lockMs,
        // Our record counts attempts and fails a job once they are spent; BullMQ only gives stalled jobs back.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
        stalledInterval: stalledCheck ? this.options.stalledIntervalMs : 30_000,
        skipStalledCheck: !stalledCheck,
      });
      worker.on('error', (error) => this.options.onError(error));
      worker.on('stalled', (bullId) => this.options.onStalled(modelId, jobIdOf(bullId)));
      if (stalledCheck) void worker.startStalledCheckTimer();
      this.workers.set(modelId, worker);
    }
    return worker;
  }

  /** A handle on one of our jobs in BullMQ, for the calls that need only its id (no read of its data). */
  private handle(modelId: string, id: string): Job {
    return new Job(this.queue(modelId), 'generation', { id }, { ...JOB_OPTIONS }, bullJobId(id));
  }
}
