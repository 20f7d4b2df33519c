/**
 * The job store a config names: the embedded SQLite file in the data dir when `store` is absent, else Redis, checked
 * for durability before anything is trusted to it. In Redis mode job timestamps come from Redis `TIME`, so that every
 * machine stamps jobs on one clock.
 */
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { SqliteJobStore, type FileSync } from '../adapters/sqlite/index.js';
import type { JobStore, JobStoreOptions } from '../runtime/job-store.js';
import type { StoreStatus } from '../runtime/store-status.js';
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
