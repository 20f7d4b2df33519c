/**
 * The job store a config names: the embedded SQLite file in the data dir when `store` is absent, else Redis, checked
 * for durability before anything is trusted to it. In Redis mode job timestamps come from Redis `TIME`, so that every
 * machine stamps jobs on one clock.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { connectRedis, parseRedisUrl, type RedisAddress, type RedisRole } from '../adapters/redis/redis-connection.js';
import { RedisJobStore, type RedisStoreLogger } from '../adapters/redis/redis-job-store.js';
import { RedisTimeClock } from '../adapters/redis/redis-time-clock.js';
import { whenReady } from '../adapters/redis/redis-unavailable.js';
import { RedisNotDurableError, readRedisDurability } from '../adapters/redis/redis-durability.js';
import { isRedisConnectionError, mapUnavailable } from '../adapters/redis/redis-connection-errors.js';
import { SqliteJobStore, type FileSync } from '../adapters/sqlite/index.js';
import type { JobStore, JobStoreOptions } from '../runtime/job-store.js';
import type { StoreStatus } from '../runtime/store-status.js';
import type { EngineBasics } from './build-engine.js';
import type { UnderstudyConfig } from './config-schema.js';

/** A store, opened, with what the process needs to report on it. */
export interface OpenedJobStore {
  store: JobStore;
  /** The clock job timestamps come from: the engine's for SQLite, Redis `TIME` for Redis. */
  clock: Clock;
  /** Reachability and durability now, for /readyz. */
  status(): Promise<StoreStatus>;
}

/** What opening a store needs besides the config. */
export interface OpenJobStoreContext {
  /** The engine's clock. */
  clock: Clock;
  /** The data dir, absolute. */
  dataDir: string;
  /** How the SQLite store makes its log durable (tests on a manual clock pass one that returns at once). */
  syncJobLog?: FileSync;
}

/** The store options every store takes, from the config. */
export function jobStoreOptions(config: UnderstudyConfig, clock: Clock): JobStoreOptions {
  return {
    clock,
    maxQueueSize: config.maxQueueSize,
    leaseMs: config.jobs.leaseMs,
    maxAttempts: config.jobs.maxAttempts,
    agingSeconds: config.jobs.agingSeconds,
    retentionMs: config.jobs.retentionDays * 24 * 3600 * 1000,
  };
}

/** Opens the SQLite file in the data dir. */
export function openSqliteJobStore(config: UnderstudyConfig, ctx: OpenJobStoreContext): OpenedJobStore {
  const path = join(ctx.dataDir, 'understudy.db');
  const store = new SqliteJobStore({ path, ...jobStoreOptions(config, ctx.clock), ...(ctx.syncJobLog ? { syncLog: ctx.syncJobLog } : {}) });
  // The data dir's path stays out of the answer: /readyz is public, and a server path tells a caller too much.
  return { store, clock: ctx.clock, status: async () => ({ kind: 'sqlite', location: 'understudy.db in the data dir', reachable: true, volatile: false, problems: [] }) };
}

/** A Redis store's address and a fail-fast client that watches it, checked at startup. */
export interface CheckedRedis {
  address: RedisAddress;
  /** A gateway-role client (fails fast while Redis is down) for status reads; quit by {@link close}. */
  probe: Redis;
  /** Reachability and durability now. */
  status(): Promise<StoreStatus>;
  /** Runs `release` when {@link close} is called (before the probe quits). */
  onClose(release: () => void): void;
  close(): Promise<void>;
}

/**
 * Connects to the Redis of `config.store` and checks it before anything is trusted to it: unreachable, it throws a
 * RedisUnavailableError; able to lose accepted jobs (no AOF `always`, an evicting policy), it throws a
 * RedisNotDurableError with the commands that fix it, unless `redis.allowVolatile` (the store then says so loudly).
 */
export async function checkRedis(config: UnderstudyConfig): Promise<CheckedRedis> {
  const address = parseRedisUrl(config.store ?? '', 'store');
  const probe = connectRedis(address, { role: 'gateway', name: 'understudy-status' });
  const releases: Array<() => void> = [];
  const close = async (): Promise<void> => {
    for (const release of releases) release();
    await probe.quit().catch(() => probe.disconnect());
  };
  try {
    await whenReady(probe, address);
  } catch (error) {
    probe.disconnect();
    throw error;
  }
  probe.on('error', () => undefined); // reconnects on its own; failures surface as rejected commands
  const durability = await readRedisDurability(probe);
  if (durability.problems.length > 0 && !config.redis.allowVolatile) {
    await close();
    throw new RedisNotDurableError(durability, address.redacted);
  }
  const status = async (): Promise<StoreStatus> => {
    try {
      const now = await readRedisDurability(probe);
      return { kind: 'redis', location: address.redacted, reachable: true, volatile: now.problems.length > 0, problems: now.problems };
    } catch (error) {
      if (!isRedisConnectionError(error)) throw error;
      return { kind: 'redis', location: address.redacted, reachable: false, volatile: false, problems: [`unreachable: ${(error as Error).message}`] };
    }
  };
  return { address, probe, status, onClose: (release) => releases.push(release), close };
}

/**
 * Opens the Redis job store on a checked Redis for `role`, stamping jobs on Redis `TIME` (one clock for every
 * machine); what it cannot throw goes to `log`. The time clock is stopped when `checked` closes.
 */
export async function openRedisJobStore(basics: EngineBasics, checked: CheckedRedis, role: RedisRole, log: RedisStoreLogger): Promise<OpenedJobStore> {
  const { config, workerId } = basics;
  const clock = await RedisTimeClock.start(checked.probe);
  checked.onClose(() => clock.stop());
  const store = await RedisJobStore.open({
    ...jobStoreOptions(config, clock),
    address: checked.address,
    prefix: config.redis.prefix,
    role,
    connectionName: `understudy-store-${workerId}`,
    allowVolatile: config.redis.allowVolatile,
    logger: log,
  });
  return { store: mapUnavailable(store, checked.address.redacted), clock, status: checked.status };
}
