/**
 * The Redis job store beside the SQLite one, side by side: JOBS durable enqueues one at a time, then claim + complete
 * until the queue is empty, as one worker does. Redis is a private redis-server with `appendonly yes`, `appendfsync
 * always` and `noeviction` (every acknowledged change on disk, as production requires); SQLite is a WAL file synced
 * before each enqueue and complete returns. Both in the OS temp folder.
 * Run: npx tsx bench/queue-store-redis.ts
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisJobStore } from '../src/adapters/redis/index.js';
import { SqliteJobStore } from '../src/adapters/sqlite/index.js';
import { SystemClock } from '../src/adapters/system-clock.js';
import type { JobStore } from '../src/runtime/job-store.js';
import { BENCH_MODELS, plannedJob } from './planned-jobs.js';

const JOBS = 2_000;
const MODELS = BENCH_MODELS;
const READY = new Set<string>(MODELS);


/** Enqueues/s and claim+complete cycles/s, one caller at a time. */
async function measure(store: JobStore): Promise<{ enqueue: number; cycle: number; total: number }> {
  const started = performance.now();
  for (let i = 0; i < JOBS; i++) await store.enqueue(plannedJob(i));
  const enqueued = performance.now();
  let done = 0;
  for (let job = await store.claimNext({ owner: 'bench', readyModels: READY }); job; job = await store.claimNext({ owner: 'bench', readyModels: READY })) {
    await store.complete(job.id, 'bench', { path: `/outputs/${job.id}.mp4`, mediaType: 'video/mp4', sizeBytes: 1, isPreview: false });
    done++;
  }
  if (done !== JOBS) throw new Error(`ran ${done} of ${JOBS} jobs`);
  const finished = performance.now();
  return { enqueue: JOBS / ((enqueued - started) / 1000), cycle: JOBS / ((finished - enqueued) / 1000), total: JOBS / ((finished - started) / 1000) };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address ? address.port : 0;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'understudy-bench-redis-'));
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  await new Promise<void>((resolve) => redis.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()).includes('Ready to accept') && resolve()));
  try {
    const sqlite = new SqliteJobStore({ path: join(dir, 'jobs.sqlite'), clock: new SystemClock(), maxQueueSize: JOBS });
    const sqliteRates = await measure(sqlite).finally(() => sqlite.close());
    const store = await RedisJobStore.open({ address: `redis://127.0.0.1:${port}`, clock: new SystemClock(), maxQueueSize: JOBS, stalledIntervalMs: 0 });
    const redisRates = await measure(store).finally(() => store.close());
    console.log(`${JOBS} jobs, 3 models, 4 priorities, one caller at a time; Node ${process.version}; redis-server appendfsync always`);
    const row = (what: string, s: number, r: number): Record<string, string | number> => ({ operation: what, 'SqliteJobStore /s': Math.round(s), 'RedisJobStore /s': Math.round(r), 'Redis ÷ SQLite': (r / s).toFixed(2) });
    console.table([
      row('enqueue (durable)', sqliteRates.enqueue, redisRates.enqueue),
      row('claim + complete', sqliteRates.cycle, redisRates.cycle),
      row('enqueue + claim + complete', sqliteRates.total, redisRates.total),
    ]);
  } finally {
    redis.kill('SIGKILL');
    await once(redis, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
