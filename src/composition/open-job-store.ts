/**
 * The job store a config names: the embedded SQLite file in the data dir when `store` is absent, else Redis, checked
 * for durability before anything is trusted to it. In Redis mode job timestamps come from Redis `TIME`, so that every
 * machine stamps jobs on one clock.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { connectRedis, parseRedisUrl, type RedisAddress } from '../adapters/redis/redis-connection.js';
import { RedisNotDurableError, readRedisDurability } from '../adapters/redis/redis-durability.js';
import { isRedisConnectionError } from '../adapters/redis/redis-connection-errors.js';
import { SqliteJobStore, type FileSync } from '../adapters/sqlite/index.js';
import { StoreUnavailableError, type JobStore, type JobStoreOptions } from '../runtime/job-store.js';
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
  return { store, clock: ctx.clock, status: async () => ({ kind: 'sqlite', location: path, reachable: true, volatile: false, problems: [] }) };
}

/** A Redis store's address and a fail-fast client that watches it, checked at startup. */
export interface CheckedRedis {
  address: RedisAddress;
  /** A gateway-role client (fails fast while Redis is down) for status reads; quit by {@link close}. */
  probe: Redis;
  /** Reachability and durability now. */
  status(): Promise<StoreStatus>;
  close(): Promise<void>;
}

/**
 * Connects to the Redis of `config.store` and checks it before anything is trusted to it: unreachable, it throws a
 * StoreUnavailableError; able to lose accepted jobs (no AOF `always`, an evicting policy), it throws a
 * RedisNotDurableError with the commands that fix it, unless `redis.allowVolatile`, when `warn` is told instead.
 */
export async function checkRedis(config: UnderstudyConfig, warn: (message: string) => void): Promise<CheckedRedis> {
  const address = parseRedisUrl(config.store ?? '', 'store');
  const probe = connectRedis(address, { role: 'gateway', name: 'understudy-status' });
  probe.on('error', () => undefined); // reconnects on its own; failures surface as rejected commands
  const close = async (): Promise<void> => {
    await probe.quit().catch(() => probe.disconnect());
  };
  try {
    await probe.ping();
  } catch (error) {
    probe.disconnect();
    throw new StoreUnavailableError(address.redacted, error);
  }
  const durability = await readRedisDurability(probe);
  if (durability.problems.length > 0) {
    if (!config.redis.allowVolatile) {
      await close();
      throw new RedisNotDurableError(durability, address.redacted);
    }
    warn(`WARNING: Redis at ${address.redacted} can lose accepted jobs: ${durability.problems.join('; ')}. Started anyway (--allow-volatile-redis): a demo, not a service. Fix: ${durability.fixes.join(' && ')}`);
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
  return { address, probe, status, close };
}

/** Opens the Redis job store on a checked Redis, with job timestamps from Redis `TIME`. */
export function openRedisJobStore(_basics: EngineBasics, checked: CheckedRedis): Promise<OpenedJobStore> {
  return Promise.reject(new Error(`the Redis job store (${checked.address.redacted}) is not in this build yet`));
}
