/**
 * Pieces of bench/distributed.ts: a cluster (private durable redis-server, a gateway process with --no-worker, worker
 * processes) on test/support/processes.ts, the BullMQ peer's processes (bench/distributed-peer.ts), the readers of
 * both sides' job times, and the table. Not a bench by itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Job } from 'bullmq';
import { clusterEnv, gatewayApi, FINAL_STATES, type GatewayApi, type JobBody } from '../test/support/cluster-api.js';
import { cleanEnv, startChild, type Child, type ProcessGroup, type RedisProcess } from '../test/support/processes.js';

/** The generation every row submits: ti2v-5B (installed on every worker) at 720p, 80 s × time scale on the simulated GPU. */
export const GENERATION = { model: 'ti2v-5B', prompt: 'a lighthouse at dusk, waves breaking', resolution: '1280x720' };
/** Simulated seconds of {@link GENERATION} at time scale 1 (ti2v-5B's base seconds; 720p and medium quality are × 1). */
export const GENERATION_SECONDS = 80;

/** A gateway (--no-worker) on a private durable Redis, and the workers started on it so far. */
export interface Cluster {
  redis: RedisProcess;
  api: GatewayApi;
  env: Record<string, string>;
  workers: Map<string, Child>;
}

/** Starts redis-server and a gateway; `extra` env is shared by the gateway and the workers. */
export async function startCluster(group: ProcessGroup, extra: Record<string, string>): Promise<Cluster> {
  const redis = await group.startRedis();
  const env = await clusterEnv(group, {
    UNDERSTUDY_MAX_QUEUE_SIZE: '1000000',
    UNDERSTUDY_LOG_LEVEL: 'silent',
    UNDERSTUDY_SIMULATED_INSTALLED_MODELS: 'ti2v-5B',
    ...extra,
  });
  const { url } = await group.gateway('gateway', ['--store', redis.url, '--no-worker', '--data-dir', await group.tempDir('gateway')], env);
  return { redis, api: gatewayApi(url), env, workers: new Map() };
}

/** Starts workers w<k> until there are `count`, and waits until the gateway lists them all. */
export async function growWorkers(group: ProcessGroup, cluster: Cluster, count: number): Promise<void> {
  const ids = Array.from({ length: count - cluster.workers.size }, (_, i) => `w${cluster.workers.size + i + 1}`);
  await Promise.all(
    ids.map(async (id) => {
      const child = await group.worker(id, ['--store', cluster.redis.url, '--id', id, '--data-dir', await group.tempDir(id)], cluster.env);
      cluster.workers.set(id, child);
    }),
  );
  await until(async () => (await cluster.api.workers()) === count, 90_000, `${count} workers in /v1/workers`);
}

/** Resolves with the first truthy value of `check`, asked every `everyMs`; rejects after `ms`. */
export async function until<T>(check: () => Promise<T | undefined | null | false>, ms: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Every job once it has ended: asks about one unfinished job at a time (a light load on the gateway). */
export async function allFinal(api: GatewayApi, ids: string[], ms: number): Promise<JobBody[]> {
  const done: JobBody[] = [];
  for (const id of ids) {
    done.push(await until(async () => {
      const job = await api.job(id);
      return FINAL_STATES.includes(job.status) ? job : undefined;
    }, ms, `generation ${id} to finish`));
  }
  return done;
}

/** The `at` of the first timeline entry of `kind`, or NaN. */
export function at(job: JobBody, kind: string, nth = 0): number {
  return job.timeline.filter((e) => e.kind === kind)[nth]?.at ?? Number.NaN;
}

/** BullMQ peer processes (bench/distributed-peer.ts), killed together by {@link PeerProcesses.killAll}. */
export class PeerProcesses {
  readonly workers: Child[] = [];
  private readonly all: Child[] = [];

  /** The fastify + queue.add server on `redisPort`; resolves with its POST URL. */
  async http(redisPort: number, queueName: string): Promise<string> {
    const child = this.start(`peer-http`, ['http', String(redisPort), queueName]);
    return (JSON.parse(await child.waitForOutput(/^(\{.*\})$/m)) as { url: string }).url;
  }

  /** Starts BullMQ worker processes until there are `count`. */
  async growWorkers(redisPort: number, queueName: string, count: number, lockMs?: number): Promise<void> {
    const names = Array.from({ length: count - this.workers.length }, (_, i) => `p${this.workers.length + i + 1}`);
    const started = names.map((name) => this.start(name, ['worker', String(redisPort), queueName, name, ...(lockMs ? [String(lockMs)] : [])]));
    await Promise.all(started.map((child) => child.waitForOutput(/^ready$/m, 90_000)));
    this.workers.push(...started);
  }

  /** SIGKILLs every peer process and waits for each to exit. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.all.map(async (child) => {
        if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
        await child.exited;
      }),
    );
    this.workers.length = 0;
  }

  private start(name: string, args: string[]): Child {
    const child = startChild(name, process.execPath, ['--import', 'tsx', 'bench/distributed-peer.ts', ...args], cleanEnv());
    this.all.push(child);
    return child;
  }
}

/** The peer's queue as the bench reads it. */
export function peerQueue(redisPort: number, name: string): Queue {
  return new Queue(name, { connection: { host: '127.0.0.1', port: redisPort } });
}

/** Resolves with the completed peer jobs tagged `tag` once there are `count` of them. */
export async function peerCompleted(queue: Queue, tag: string, count: number, ms: number): Promise<Job[]> {
  return until(async () => {
    const jobs = (await queue.getJobs(['completed'], 0, -1)).filter((j) => (j.data as { tag?: string }).tag === tag);
    return jobs.length >= count ? jobs : undefined;
  }, ms, `${count} peer jobs tagged ${tag}`, 100);
}

/** Nearest-rank percentile of `values` (0 < p ≤ 100). */
export function percentile(values: number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Work done inside [from, to], in jobs: each job counts the share of its run [start, end] that falls inside. */
export function jobsInWindow(runs: Array<[number, number]>, from: number, to: number): number {
  return runs.reduce((sum, [start, end]) => (end > start ? sum + Math.max(0, Math.min(end, to) - Math.max(start, from)) / (end - start) : sum), 0);
}

/** A number for the table: NaN as "—", otherwise `digits` decimals. */
export function num(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

/** ours ÷ peer as "1.23x", or "—". */
export function ratio(ours: number, peer: number): string {
  return Number.isFinite(ours) && Number.isFinite(peer) && peer !== 0 ? `${(ours / peer).toFixed(2)}x` : '—';
}

/** A markdown table of `rows` (the first is the header). */
export function markdownTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
