// Over 400 lines for one reason: each of the job-store port's methods is one read-decide-commit here, beside the
// BullMQ call that keeps the model's queue in step.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { v7 as timeOrderedUuid } from 'uuid';
import type { Clock } from '../../core/clock.js';
import { PRIORITIES, type Priority } from '../../core/vocabulary.js';
import { effectiveRank, laneAhead, queuedAhead, sortQueue } from '../../core/queue-ordering.js';
import { JOB_STATES, WAITING_JOB_STATES, type Job, type JobError, type JobLease, type JobOutput, type JobState, type NewJob, type TimelineEntry } from '../../runtime/job.js';
import {
  JOB_STORE_DEFAULTS,
  JobAlreadyExistsError,
  JobNotFoundError,
  LeaseLostError,
  QueueFullError,
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
  type ReadyModels,
  type WaitForModelOptions,
} from '../../runtime/job-store.js';
import {
  acceptJob,
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
  type JobFacts,
} from '../../runtime/job-transitions.js';
import { chooseClaim } from './redis-claim.js';
import { connectRedis, parseRedisUrl, type RedisAddress, type RedisRole } from './redis-connection.js';
import { readRedisDurability, RedisNotDurableError, type RedisDurability } from './redis-durability.js';
import { factsOf, leaseTokenOf, NO_LEASE, revisionOf, timelineValues, toJob, type JobBody, type JobFields, type StoredJob } from './redis-job-record.js';
import { DEFAULT_REDIS_PREFIX, RedisKeys } from './redis-keys.js';
import { JobScripts } from './redis-scripts.js';
import { ModelQueues } from './model-queues.js';
import { maskPassword, whenReady } from './redis-unavailable.js';

/** Where the store reports what it cannot throw (BullMQ's background errors) and a volatile Redis. */
export interface RedisStoreLogger {
  warn(message: string): void;
  error(message: string): void;
}

/** Options of {@link RedisJobStore}. */
export interface RedisJobStoreOptions extends JobStoreOptions {
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://…`, or its parsed form. */
  address: string | RedisAddress;
  /** The start of every key the store writes (default `us`); BullMQ's queues live under `<prefix>:bull`. */
  prefix?: string;
  /** `worker` waits through Redis outages, `gateway` fails fast so the API can answer 503 (default `worker`). */
  role?: RedisRole;
  /** CLIENT SETNAME of the store's connections (default `understudy`). */
  connectionName?: string;
  /** How often this process runs BullMQ's stalled-job check on the queues it claims from, ms; 0 for never (default 30 000). */
  stalledIntervalMs?: number;
  /** Default: the console. */
  logger?: RedisStoreLogger;
}

/** Options of {@link RedisJobStore.open}. */
export interface RedisJobStoreOpenOptions extends RedisJobStoreOptions {
  /** Accept a Redis that can lose acknowledged jobs (AOF off, fsync not `always`, an evicting policy), loudly (default false). */
  allowVolatile?: boolean;
}

/** A change decided from one read of a job: its fields, its new timeline entries, and what follows once it is stored. */
interface Change {
  fields: JobFields;
  timeline: TimelineEntry[];
  /** Runs after the commit, e.g. the BullMQ call that keeps the model's queue in step; may throw (a LeaseLostError). */
  afterwards?: (job: Job) => Promise<void>;
}

/** Tries of a claim that lost races (another claimer took the job it chose) before it reports nothing to claim. */
const CLAIM_TRIES = 5;

const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/**
 * The job store on Redis, for gateways and workers on many machines. Our records (job hash, timeline, indexes for
 * listings, counts, queue order and positions, deadlines, leases) live beside BullMQ's queues, one per model (see
 * model-queues.ts). Each method reads a job, lets the lifecycle (runtime/job-transitions.ts) decide, and commits
 * the decision with a Lua script that refuses it if the job changed meanwhile; the queue follows. The record is the
 * authority: a BullMQ entry that disagrees with it (left by a crash between the two) is dropped or re-added when
 * met, and {@link reconcile} re-adds queued jobs whose entry is missing.
 *
 * Leases: the lease in the record (on the store's clock) decides {@link recoverLapsedLeases}; BullMQ's lock, with the
 * same duration and the claim's token, is the lease in real time. A result (complete, fail) or a renewal counts only
 * while the worker still holds that lock: once it is gone the lease is recorded as lapsed and the worker gets a
 * LeaseLostError. A crashed worker's job comes back through BullMQ's stalled-job check, and the record follows.
 *
 * Every method resolves once Redis acknowledged the change; with `appendfsync always` that is on disk.
 */
export class RedisJobStore implements JobStore {
  readonly maxQueueSize: number;
  /** The server's durability settings, once {@link open} has checked them (null for a store made with `new`). */
  durability: RedisDurability | null = null;
  private readonly clock: Clock;
  private readonly agingSeconds: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly retentionMs: number;
  private readonly retryAfterSeconds: number;
  private readonly address: RedisAddress;
  private readonly keys: RedisKeys;
  private readonly logger: RedisStoreLogger;
  private readonly redis: Redis;
  private readonly scripts: JobScripts;
  private readonly queues: ModelQueues;

  /**
   * Connects and checks the server: refuses a Redis that can lose acknowledged jobs with a RedisNotDurableError
   * naming the commands that fix it, unless `allowVolatile` (then it says so in the log and in `durability`); then
   * {@link reconcile}s. Rejects with a RedisUnavailableError when Redis cannot be reached. No password appears in an
   * error or the log.
   */
  static async open(options: RedisJobStoreOpenOptions): Promise<RedisJobStore> {
    const store = new RedisJobStore(options);
    try {
      await whenReady(store.redis, store.address);
      const durability = await readRedisDurability(store.redis);
      if (durability.problems.length > 0) {
        if (!options.allowVolatile) throw new RedisNotDurableError(durability, store.address.redacted);
        store.logger.warn(
          `VOLATILE REDIS at ${store.address.redacted}: ${durability.problems.join('; ')}. Accepted jobs may be lost; ` +
            `allowed by --allow-volatile-redis. Fix: ${durability.fixes.join(' && ')}`,
        );
      }
      store.durability = durability;
      await store.reconcile();
      return store;
    } catch (error) {
      await store.close();
      throw error;
    }
  }

  /** A store on `address`, connecting in the background; {@link open} also checks the server and reconciles. */
  constructor(options: RedisJobStoreOptions) {
    this.clock = options.clock;
    this.maxQueueSize = options.maxQueueSize ?? JOB_STORE_DEFAULTS.maxQueueSize;
    this.agingSeconds = options.agingSeconds ?? JOB_STORE_DEFAULTS.agingSeconds;
    this.leaseMs = options.leaseMs ?? JOB_STORE_DEFAULTS.leaseMs;
    this.maxAttempts = options.maxAttempts ?? JOB_STORE_DEFAULTS.maxAttempts;
    this.retentionMs = options.retentionMs ?? JOB_STORE_DEFAULTS.retentionMs;
    this.retryAfterSeconds = options.retryAfterSeconds ?? JOB_STORE_DEFAULTS.retryAfterSeconds;
    requirePositiveInteger(this.maxQueueSize, 'maxQueueSize');
    requirePositiveInteger(this.maxAttempts, 'maxAttempts');
    requirePositiveInteger(this.leaseMs, 'leaseMs');
    this.address = typeof options.address === 'string' ? parseRedisUrl(options.address) : options.address;
    this.keys = new RedisKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.logger = options.logger ?? console;
    const name = options.connectionName ?? 'understudy';
    this.redis = connectRedis(this.address, { role: options.role ?? 'worker', name });
    this.redis.on('error', (error: Error) => this.logger.error(`Redis at ${this.address.redacted}: ${maskPassword(error.message, this.address)}`));
    this.scripts = new JobScripts(this.redis, this.keys);
    this.queues = new ModelQueues({
      connection: this.redis,
      workerConnection: () => connectRedis(this.address, { role: 'worker', name: `${name}-worker` }),
      prefix: this.keys.bullPrefix,
      lockMs: this.leaseMs,
      stalledIntervalMs: options.stalledIntervalMs ?? 30_000,
      onStalled: (modelId, id) => void this.recordStall(modelId, id).catch((error: Error) => this.logger.error(`stalled job ${id}: ${error.message}`)),
      onError: (error) => this.logger.error(`BullMQ at ${this.address.redacted}: ${maskPassword(error.message, this.address)}`),
    });
  }

  /** Whether the server can lose acknowledged jobs (known once {@link open} has checked it). */
  get volatile(): boolean {
    return (this.durability?.problems.length ?? 0) > 0;
  }

  /**
   * Re-adds every queued job to its model's queue. Adding is idempotent by job id, so a job already there is left
   * alone: this heals a crash between storing a job and enqueueing it, and rebuilds the queues from the records.
   * Resolves with how many queued jobs it checked.
   */
  async reconcile(): Promise<number> {
    const ids = await this.redis.zrange(`${this.keys.prefix}:status:queued`, 0, -1);
    const stored = await this.scripts.read(ids);
    for (const job of stored) {
      if (job?.hash.status === 'queued') await this.queues.add(job.hash.model as string, job.hash.id as string, Number(job.hash.rank));
    }
    return ids.length;
  }

  async enqueue(newJob: NewJob): Promise<Job> {
    const at = newJob.acceptedAt ?? this.clock.now();
    const accepted = acceptJob(newJob, at, this.maxAttempts);
    const id = newJob.id ?? timeOrderedUuid();
    const body: JobBody = { requestedModel: accepted.requestedModel, request: newJob.request, plan: newJob.plan };
    if (newJob.parentJobId !== undefined) body.parentJobId = newJob.parentJobId;
    if (newJob.hybridOf !== undefined) body.hybridOf = newJob.hybridOf;
    const fields: JobFields = {
      id,
      status: accepted.status,
      rank: accepted.priorityRank,
      model: accepted.modelUsed,
      waitingFor: accepted.waitingFor,
      createdAt: at,
      updatedAt: at,
      deadline: accepted.deadline,
      attempts: 0,
      maxAttempts: accepted.maxAttempts,
      progress: 0,
      body: JSON.stringify(body),
    };
    const timeline = timelineValues(accepted.timeline);
    const outcome = await this.scripts.accept(id, this.maxQueueSize, fields, timeline);
    if (outcome.kind === 'taken') throw new JobAlreadyExistsError(id);
    if (outcome.kind === 'full') throw new QueueFullError(outcome.waiting, this.maxQueueSize, this.retryAfterSeconds);
    if (accepted.status === 'queued') await this.queues.add(accepted.modelUsed, id, accepted.priorityRank);
    const hash = Object.fromEntries(
      Object.entries({ ...fields, seq: outcome.sequence, rev: 1 })
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, String(v)]),
    );
    return toJob({ hash, timeline });
  }

  async get(id: string): Promise<Job | null> {
    const [stored] = await this.scripts.read([id]);
    return stored ? toJob(stored) : null;
  }

  async list(options: ListOptions = {}): Promise<JobPage> {
    const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 50)), 1000);
    const newestFirst = options.order === 'newest_first';
    const cursor = options.cursor === undefined ? undefined : parseSequenceCursor(options.cursor);
    const keys =
      options.status === undefined
        ? [`${this.keys.prefix}:all`]
        : (typeof options.status === 'string' ? [options.status] : options.status).map((s) => `${this.keys.prefix}:status:${s}`);
    const entries: Array<{ id: string; seq: number }> = [];
    for (const key of keys) {
      const flat = newestFirst
        ? await this.redis.zrevrangebyscore(key, cursor === undefined ? '+inf' : `(${cursor}`, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
        : await this.redis.zrangebyscore(key, cursor === undefined ? '-inf' : `(${cursor}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1);
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i] as string, seq: Number(flat[i + 1]) });
    }
    entries.sort((a, b) => (newestFirst ? b.seq - a.seq : a.seq - b.seq));
    const page = entries.slice(0, limit);
    const jobs = (await this.scripts.read(page.map((e) => e.id))).filter((s): s is StoredJob => s !== null).map(toJob);
    const last = page[page.length - 1];
    return { jobs, nextCursor: entries.length > limit && last ? String(last.seq) : null };
  }

  async listQueue(options: QueueOrderOptions = {}): Promise<Job[]> {
    const now = options.now ?? this.clock.now();
    const status = options.status ?? 'queued';
    const ids = status === 'queued' && options.limit !== undefined ? await this.laneHeads(Math.max(0, Math.floor(options.limit))) : await this.redis.zrange(`${this.keys.prefix}:status:${status}`, 0, -1);
    const jobs = (await this.scripts.read(ids)).filter((s): s is StoredJob => s !== null).map(toJob);
    const ordered = sortQueue(
      jobs.map((job) => ({ job, priority: job.priority, queuedAt: job.createdAt, sequence: job.sequence })),
      now,
      this.agingSeconds,
    ).map((o) => o.job);
    return options.limit === undefined ? ordered : ordered.slice(0, options.limit);
  }

  /**
   * The ids of the first `take` queued jobs of each priority lane (a lane's ZSET is in claim order: createdAt, then
   * sequence in the member): aging only moves a lane's oldest jobs up, so the first `take` in claim order are among
   * them, and a bounded read costs the same however long the queue.
   */
  private async laneHeads(take: number): Promise<string[]> {
    if (take === 0) return [];
    const pipeline = this.redis.pipeline();
    for (let rank = 0; rank < PRIORITIES.length; rank++) pipeline.zrange(`${this.keys.prefix}:lane:${rank}`, 0, take - 1);
    const results = (await pipeline.exec()) ?? [];
    return results.flatMap(([error, members]) => {
      if (error) throw error;
      return (members as string[]).map((m) => m.slice(m.indexOf(':') + 1));
    });
  }

  /** Counts lane by lane with the lane indexes (see queuedAhead): a few ZCOUNTs however long the queue. */
  async queuePosition(id: string, now = this.clock.now()): Promise<number | null> {
    const [stored] = await this.scripts.read([id]);
    if (!stored) throw new JobNotFoundError(id);
    if (stored.hash.status !== 'queued') return null;
    const job = toJob(stored);
    const rank = effectiveRank({ priority: job.priority, queuedAt: job.createdAt, sequence: job.sequence }, now, this.agingSeconds);
    // The bounds queuedAhead will ask about, counted in one script; then the same arithmetic as every store.
    const bounds = PRIORITIES.map((_, lane) => laneAhead(lane, rank, now, this.agingSeconds));
    const counts = await this.scripts.laneCounts(id, job.createdAt, job.sequence, bounds);
    const ahead = queuedAhead(rank, now, this.agingSeconds, PRIORITIES.length, (lane) => {
      const c = counts[lane] ?? { total: 0, before: 0, upToAll: 0, upToTied: 0 };
      const b = bounds[lane];
      return { total: () => c.total, before: () => c.before, upTo: (upTo) => (upTo === b?.allUpTo ? c.upToAll : c.upToTied) };
    });
    return ahead + 1;
  }

  async claimNext(options: ClaimOptions): Promise<Job | null> {
    const now = options.now ?? this.clock.now();
    const leaseMs = options.leaseMs ?? this.leaseMs;
    const prefer = options.preferModel;
    const take = prefer ? Math.max(0, Math.floor(prefer.maxSkip)) + 1 : 1;
    // Jobs this claim found taken, or held by a lock that lapsed but that BullMQ's stalled check has not given back yet.
    const passed = new Set<string>();
    for (let attempt = 0; attempt < CLAIM_TRIES; attempt++) {
      const models = await this.readyModelIds(options.readyModels);
      if (models.length === 0) return null;
      this.queues.watch(models);
      const candidates = (await this.scripts.candidates(now, take, models)).filter((c) => !passed.has(c.id));
      const choice = chooseClaim(candidates, now, this.agingSeconds, prefer);
      if (!choice) return null;
      const { modelId, id } = choice.chosen;
      const token = randomUUID();
      // The record says queued; a missing queue entry (a crash after storing) is added back first.
      if (!(await this.queues.toFront(modelId, id))) {
        await this.queues.add(modelId, id, choice.chosen.rank);
        await this.queues.toFront(modelId, id);
      }
      const taken = await this.queues.take(modelId, token);
      // Not handed out: another claim took it meanwhile, unless it was stale (then it is back for the next try).
      if (taken !== id && !(await this.queues.putBackStale(modelId, id, choice.chosen.rank))) passed.add(id);
      if (taken === null) continue;
      const job = await this.takeOver(modelId, taken, token, options.owner, now, leaseMs, taken === id ? choice.skipped : 0);
      if (job) return job;
    }
    return null;
  }

  async renewLease(id: string, owner: string, now?: number, leaseMs?: number): Promise<JobLease> {
    const at = now ?? this.clock.now();
    const ms = leaseMs ?? this.leaseMs;
    const job = await this.change(id, async (stored, facts) => {
      const lease = renewJobLease(facts, owner, at, ms);
      if (!(await this.holdsLock(stored, ms))) return this.lostLock(stored, owner, 'renew the lease of', at);
      return { fields: { leaseExpiresAt: lease.expiresAt, updatedAt: at }, timeline: [] };
    });
    return { owner, expiresAt: job.lease?.expiresAt ?? at + ms };
  }

  async updateProgress(id: string, owner: string, progress: number, message?: string): Promise<void> {
    const now = this.clock.now();
    await this.change(id, (_stored, facts) => {
      const reported = reportProgress(facts, owner, progress, message, now);
      return { fields: { progress: reported.progress, progressMessage: reported.progressMessage, updatedAt: now }, timeline: reported.timeline };
    });
  }

  async appendTimeline(id: string, entry: Omit<TimelineEntry, 'at'> & { at?: number }): Promise<TimelineEntry> {
    const at = entry.at ?? this.clock.now();
    const added: TimelineEntry = entry.data === undefined ? { at, kind: entry.kind, message: entry.message } : { at, kind: entry.kind, message: entry.message, data: entry.data };
    await this.change(id, (stored) => ({ fields: { updatedAt: Math.max(Number(stored.hash.updatedAt ?? 0), at) }, timeline: [added] }));
    return added;
  }

  async complete(id: string, owner: string, output: JobOutput): Promise<Job> {
    const now = this.clock.now();
    return this.change(id, async (stored, facts) => {
      const done = completeJob(facts, owner, output, now);
      if (!(await this.holdsLock(stored, this.leaseMs))) return this.lostLock(stored, owner, 'complete', now);
      const token = leaseTokenOf(stored.hash);
      return {
        fields: { status: 'succeeded', output: JSON.stringify(output), progress: 1, ...NO_LEASE, updatedAt: now },
        timeline: done.timeline,
        afterwards: async () => {
          if (token !== null) await this.queues.finish(facts.modelUsed, id, token);
        },
      };
    });
  }

  async fail(id: string, owner: string, error: JobError, options: FailOptions): Promise<Job> {
    const now = this.clock.now();
    return this.change(id, async (stored, facts) => {
      const failed = failAttempt(facts, owner, error, options, now);
      if (!(await this.holdsLock(stored, this.leaseMs))) return this.lostLock(stored, owner, 'fail', now);
      const token = leaseTokenOf(stored.hash);
      const fields: JobFields = { status: failed.status, error: JSON.stringify(failed.error), ...NO_LEASE, updatedAt: now };
      if (failed.status === 'failed') {
        return { fields: { ...fields, waitingFor: null }, timeline: failed.timeline, afterwards: () => this.queues.remove(facts.modelUsed, id, token) };
      }
      if (failed.replan) {
        const { plan, modelUsed, requirements } = failed.replan;
        const body = JSON.parse(stored.hash.body as string) as JobBody;
        fields.body = JSON.stringify({ ...body, plan, request: { ...body.request, requirements } } satisfies JobBody);
        fields.model = modelUsed;
      }
      return {
        fields: { ...fields, progress: 0, progressMessage: null },
        timeline: failed.timeline,
        afterwards: (job) => this.requeued(facts.modelUsed, job, token),
      };
    });
  }

  async setWaitingForModel(id: string, options: WaitForModelOptions): Promise<Job> {
    const now = this.clock.now();
    return this.change(id, (stored, facts) => {
      const parked = waitForModel(facts, options, now);
      const token = facts.status === 'running' ? leaseTokenOf(stored.hash) : null;
      return {
        fields: { status: 'waiting_for_model', waitingFor: parked.waitingFor, attempts: parked.attempts, ...NO_LEASE, progress: 0, progressMessage: null, updatedAt: now },
        timeline: parked.timeline,
        afterwards: () => this.queues.remove(facts.modelUsed, id, token),
      };
    });
  }

  async releaseWaiting(modelId: string, now?: number): Promise<Job[]> {
    const at = now ?? this.clock.now();
    const members = (await Promise.all(PRIORITIES.map((_, rank) => this.redis.zrange(`${this.keys.prefix}:waiting:${modelId}:${rank}`, 0, -1)))).flat();
    const ids = members.sort().map((m) => m.slice(16));
    const released: Job[] = [];
    for (const id of ids) {
      const job = await this.changeIf(id, (_stored, facts) =>
        facts.status === 'waiting_for_model' && facts.waitingFor === modelId
          ? {
              fields: { status: 'queued', waitingFor: null, updatedAt: at },
              timeline: releaseJob(modelId, at).timeline,
              afterwards: (queued) => this.queues.add(queued.modelUsed, queued.id, PRIORITIES.indexOf(queued.priority)),
            }
          : null,
      );
      if (job) released.push(job);
    }
    return released;
  }

  async cancel(id: string, reason: string, options: { ifState?: JobState } = {}): Promise<Job> {
    const now = this.clock.now();
    return this.change(id, (stored, facts) => {
      const cancelled = cancelJob(facts, reason, now, options.ifState);
      // A running job's BullMQ entry is removed with its worker's token; the worker learns of it at its next act.
      const token = facts.status === 'running' ? leaseTokenOf(stored.hash) : null;
      return {
        fields: { status: 'cancelled', error: JSON.stringify(cancelled.error), ...NO_LEASE, waitingFor: null, updatedAt: now },
        timeline: cancelled.timeline,
        afterwards: () => (facts.status === 'waiting_for_model' ? Promise.resolve() : this.queues.remove(facts.modelUsed, id, token)),
      };
    });
  }

  async expireDue(now?: number, options: ExpireOptions = {}): Promise<Job[]> {
    const at = now ?? this.clock.now();
    const states: readonly JobState[] = options.states ?? WAITING_JOB_STATES;
    const ids = await this.redis.zrangebyscore(`${this.keys.prefix}:deadlines`, '-inf', at);
    const expired: Job[] = [];
    for (const id of ids) {
      const job = await this.changeIf(id, (_stored, facts) => {
        if (!states.includes(facts.status) || facts.deadline === null || facts.deadline > at) return null;
        const ended = expireJob(facts, at);
        return {
          fields: { status: 'expired', error: JSON.stringify(ended.error), waitingFor: null, updatedAt: at },
          timeline: ended.timeline,
          afterwards: () => (facts.status === 'queued' ? this.queues.remove(facts.modelUsed, id, null) : Promise.resolve()),
        };
      });
      if (job) expired.push(job);
    }
    return expired;
  }

  async recoverLapsedLeases(now?: number): Promise<Job[]> {
    const at = now ?? this.clock.now();
    const ids = await this.redis.zrangebyscore(`${this.keys.prefix}:leases`, '-inf', at);
    const recovered: Job[] = [];
    for (const id of ids) {
      const job = await this.changeIf(id, (stored, facts) =>
        facts.status === 'running' && (facts.lease?.expiresAt ?? -Infinity) <= at ? this.lapse(stored, at) : null,
      );
      if (job) recovered.push(job);
    }
    return recovered;
  }

  async purgeFinished(olderThan?: number): Promise<number> {
    return this.scripts.purge(olderThan ?? this.clock.now() - this.retentionMs);
  }

  async counts(): Promise<Record<JobState, number>> {
    const n = await this.scripts.counts(JOB_STATES);
    return Object.fromEntries(JOB_STATES.map((s, i) => [s, n[i] ?? 0])) as Record<JobState, number>;
  }

  async queueSnapshot(): Promise<QueueSnapshot> {
    const takenAt = this.clock.now();
    const byModel: Record<string, ModelQueueCounts> = {};
    let total = 0;
    for (const lane of await this.scripts.snapshot()) {
      const counts = (byModel[lane.modelId] ??= { queued: zeroByPriority(), waitingForModel: zeroByPriority(), total: 0 });
      const priority = PRIORITIES[lane.rank] as Priority;
      counts.queued[priority] += lane.queued;
      counts.waitingForModel[priority] += lane.waiting;
      counts.total += lane.queued + lane.waiting;
      total += lane.queued + lane.waiting;
    }
    return { takenAt, byModel, total };
  }

  async oldestWaitingAcceptedAt(): Promise<number | null> {
    const [, score] = await this.redis.zrange(`${this.keys.prefix}:waiting-since`, 0, 0, 'WITHSCORES');
    return score === undefined ? null : Number(score);
  }

  /** Closes BullMQ's queues and workers and the connections; jobs, records and locks stay in Redis. */
  async close(): Promise<void> {
    await this.queues.close();
    this.redis.disconnect();
  }

  /**
   * Reads a job, lets `decide` decide its change from that read, and commits it unless the job changed meanwhile
   * (then decides again on a fresh read). Rejects with a JobNotFoundError when there is no such job, and with what
   * `decide` or the change's `afterwards` throws.
   */
  private async change(id: string, decide: (stored: StoredJob, facts: JobFacts) => Change | Promise<Change>): Promise<Job> {
    const job = await this.changeIf(id, decide);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  /** {@link change}, where `decide` may decline (null) and a missing job resolves with null. */
  private async changeIf(id: string, decide: (stored: StoredJob, facts: JobFacts) => Change | null | Promise<Change | null>): Promise<Job | null> {
    for (;;) {
      const [stored] = await this.scripts.read([id]);
      if (!stored) return null;
      const change = await decide(stored, factsOf(stored.hash));
      if (!change) return null;
      const outcome = await this.scripts.commit(id, revisionOf(stored.hash), change.fields, timelineValues(change.timeline));
      if (outcome.kind === 'missing') return null;
      if (outcome.kind === 'changed') continue;
      const job = toJob(outcome.job);
      await change.afterwards?.(job);
      return job;
    }
  }

  /**
   * Runs a job BullMQ handed out under `token` for the record's claim, or settles why not: a job the record no longer
   * queues on this model is dropped from the queue; one whose record still runs under an older token lost that lock
   * (BullMQ gave it back), so its lapse is recorded first; one past its deadline goes back for expireDue.
   */
  private async takeOver(modelId: string, id: string, token: string, owner: string, now: number, leaseMs: number, skipped: number): Promise<Job | null> {
    for (;;) {
      const [stored] = await this.scripts.read([id]);
      const facts = stored ? factsOf(stored.hash) : null;
      if (stored && facts?.status === 'running' && leaseTokenOf(stored.hash) !== token) {
        const lapsed = this.lapse(stored, now);
        await this.scripts.commit(id, revisionOf(stored.hash), lapsed.fields, timelineValues(lapsed.timeline));
        continue;
      }
      if (!stored || !facts || facts.status !== 'queued' || facts.modelUsed !== modelId) {
        await this.queues.remove(modelId, id, token);
        return null;
      }
      if (facts.deadline !== null && facts.deadline <= now) {
        await this.queues.giveBack(modelId, id, token);
        return null;
      }
      const claim = claimJob(facts, owner, now, leaseMs, skipped);
      if (leaseMs !== this.leaseMs) await this.queues.extendLock(modelId, id, token, leaseMs);
      const fields: JobFields = {
        status: 'running',
        attempts: claim.attempts,
        leaseOwner: claim.lease.owner,
        leaseExpiresAt: claim.lease.expiresAt,
        leaseToken: token,
        progress: 0,
        progressMessage: null,
        updatedAt: now,
      };
      const outcome = await this.scripts.commit(id, revisionOf(stored.hash), fields, timelineValues(claim.timeline));
      if (outcome.kind === 'committed') return toJob(outcome.job);
    }
  }

  /** The lapse of a running job's lease at `now`: requeued while attempts remain, failed otherwise; the queue follows. */
  private lapse(stored: StoredJob, now: number): Change {
    const facts = factsOf(stored.hash);
    const token = leaseTokenOf(stored.hash);
    const lapsed = lapseLease(facts, now);
    const fields: JobFields = { status: lapsed.status, error: json(lapsed.error), ...NO_LEASE, updatedAt: now };
    return lapsed.status === 'queued'
      ? { fields: { ...fields, progress: 0, progressMessage: null }, timeline: lapsed.timeline, afterwards: (job) => this.requeued(facts.modelUsed, job, token) }
      : { fields: { ...fields, waitingFor: null }, timeline: lapsed.timeline, afterwards: () => this.queues.remove(facts.modelUsed, facts.id, token) };
  }

  /** The lease of a worker whose BullMQ lock is gone: recorded as lapsed, and the worker refused. */
  private lostLock(stored: StoredJob, owner: string, attempted: string, now: number): Change {
    const lapsed = this.lapse(stored, now);
    return {
      ...lapsed,
      afterwards: async (job) => {
        await lapsed.afterwards?.(job);
        throw new LeaseLostError(job.id, owner, job.status, job.lease?.owner ?? null, attempted);
      },
    };
  }

  /** Whether the claim the record runs under still holds its BullMQ lock; it is extended by `ms` when it does. */
  private async holdsLock(stored: StoredJob, ms: number): Promise<boolean> {
    const token = leaseTokenOf(stored.hash);
    return token !== null && (await this.queues.extendLock(stored.hash.model as string, stored.hash.id as string, token, ms));
  }

  /**
   * Puts a requeued job in its model's queue: given back under `token` when it was running there, else added (a
   * replanned job moves to its new model's queue; an entry already there is kept).
   */
  private async requeued(previousModel: string, job: Job, token: string | null): Promise<void> {
    const rank = PRIORITIES.indexOf(job.priority);
    if (previousModel !== job.modelUsed) {
      await this.queues.remove(previousModel, job.id, token);
    } else if (token !== null) {
      if (await this.queues.giveBack(job.modelUsed, job.id, token)) return;
      // The lock ran out before the give-back (a dead worker renews nothing): the entry is still `active`, where an
      // add is a no-op and only BullMQ's stalled check (two passes) would free it. Take it out, then add it again.
      await this.queues.remove(job.modelUsed, job.id, null);
    }
    await this.queues.add(job.modelUsed, job.id, rank);
  }

  /** BullMQ's stalled-job check gave back a job of `modelId` whose lock lapsed: the record follows unless it moved on. */
  private async recordStall(modelId: string, id: string): Promise<void> {
    await this.changeIf(id, async (stored, facts) => {
      if (facts.status !== 'running' || facts.modelUsed !== modelId) return null;
      const state = await this.queues.state(modelId, id);
      return state === 'waiting' || state === 'prioritized' ? this.lapse(stored, this.clock.now()) : null;
    });
  }

  /** The models to claim from. */
  private async readyModelIds(ready: ReadyModels | undefined): Promise<string[]> {
    if (ready !== undefined && typeof ready !== 'function') return [...ready];
    const known = await this.redis.smembers(`${this.keys.prefix}:models`);
    return ready === undefined ? known : known.filter((m) => ready(m));
  }
}

function zeroByPriority(): Record<Priority, number> {
  return Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
}
