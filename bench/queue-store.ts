/**
 * Job store throughput and latency: 10,000 durable enqueues, then claim + complete until the queue is empty, then
 * 10,000 durable enqueues from 10 concurrent callers (group commit), on a SQLite file in the OS temp folder (WAL;
 * enqueue and complete wait for the log's sync before they return, claims do not).
 * Each phase stops early at PHASE_BUDGET_MS so that a slow or busy disk keeps the run under a minute; the table says
 * how many operations were measured.
 * Run: npx tsx bench/queue-store.ts
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteJobStore } from '../src/adapters/sqlite/index.js';
import { SystemClock } from '../src/adapters/system-clock.js';
import { BENCH_MODELS, plannedJob } from './planned-jobs.js';

const JOBS = 10_000;
const MODELS = BENCH_MODELS;
const OWNER = 'bench-worker';
const PHASE_BUDGET_MS = 25_000;
/** Callers enqueueing at once in the concurrent phase, as 10 connections would. */
const WRITERS = 10;

/** Per-operation timings, milliseconds. */
class Timings {
  readonly samples: number[] = [];

  async time<T>(op: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await op();
    this.samples.push(performance.now() - started);
    return result;
  }

  /** A table row; ops/s from the summed latencies, or from `wallMs` when operations overlapped. */
  row(name: string, wallMs?: number): Record<string, string | number> {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const total = wallMs ?? sorted.reduce((sum, ms) => sum + ms, 0);
    const at = (q: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(3);
    return {
      operation: name,
      ops: sorted.length,
      'total s': (total / 1000).toFixed(2),
      'ops/s': Math.round(sorted.length / (total / 1000)),
      'p50 ms': at(0.5),
      'p99 ms': at(0.99),
      'max ms': (sorted[sorted.length - 1] ?? 0).toFixed(3),
    };
  }
}



async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'understudy-bench-'));
  const path = join(dir, 'jobs.sqlite');
  const store = new SqliteJobStore({ path, clock: new SystemClock(), maxQueueSize: 2 * JOBS });
  const enqueue = new Timings();
  const claim = new Timings();
  const complete = new Timings();
  const concurrent = new Timings();
  const ready = new Set(MODELS);
  const wall = performance.now();
  try {
    const enqueueStarted = performance.now();
    for (let i = 0; i < JOBS && performance.now() - enqueueStarted < PHASE_BUDGET_MS; i++) {
      const job = plannedJob(i);
      await enqueue.time(() => store.enqueue(job));
    }
    const queued = enqueue.samples.length;
    const drainStarted = performance.now();
    while (performance.now() - drainStarted < PHASE_BUDGET_MS) {
      const job = await claim.time(() => store.claimNext({ owner: OWNER, readyModels: ready }));
      if (!job) {
        claim.samples.pop(); // the claim that found the queue empty
        break;
      }
      await complete.time(() => store.complete(job.id, OWNER, { path: `/outputs/${job.id}.mp4`, mediaType: 'video/mp4', sizeBytes: 1, isPreview: false }));
    }
    const counts = await store.counts();
    if (counts.succeeded !== complete.samples.length || counts.queued !== queued - complete.samples.length) {
      throw new Error(`the store lost count: ${JSON.stringify(counts)} after ${queued} enqueues and ${complete.samples.length} completions`);
    }
    // Concurrent submits, as a busy service makes them: WRITERS callers each enqueueing in turn, sharing commits.
    const concurrentStarted = performance.now();
    let next = 0;
    const writer = async (): Promise<void> => {
      while (next < JOBS && performance.now() - concurrentStarted < PHASE_BUDGET_MS) {
        const job = plannedJob(next++);
        await concurrent.time(() => store.enqueue(job));
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
    const concurrentMs = performance.now() - concurrentStarted;
    if ((await store.counts()).queued !== counts.queued + concurrent.samples.length) throw new Error('the store lost a concurrent enqueue');

    const sqlite = new Database(':memory:');
    const version = (sqlite.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    sqlite.close();
    const sizeMb = (statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0)) / 1024 ** 2;
    console.log(`SqliteJobStore, ${queued} jobs, 3 models, 4 priorities; Node ${process.version}, SQLite ${version}, WAL`);
    console.log(`file ${path} (${sizeMb.toFixed(1)} MB incl. WAL), wall time ${((performance.now() - wall) / 1000).toFixed(1)} s`);
    if (queued < JOBS || counts.queued > 0) console.log(`stopped at the ${PHASE_BUDGET_MS / 1000} s budget of a phase: ${queued} enqueued, ${counts.queued} left queued`);
    console.table([
      enqueue.row('enqueue (synced)'),
      claim.row(`claimNext (queue ${queued}→${counts.queued + 1})`),
      complete.row('complete (synced)'),
      concurrent.row(`enqueue (synced, ${WRITERS} concurrent)`, concurrentMs),
    ]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
