/**
 * The Redis cluster mode (a gateway process `serve --store redis://… --no-worker` and `worker` processes on the
 * simulated GPU) beside the peer a user would pick instead (fastify + BullMQ `queue.add`, plain BullMQ Workers at
 * concurrency 1), side by side in the same run, on one private redis-server with `--appendonly yes --appendfsync
 * always --maxmemory-policy noeviction` (never the machine's Redis on 6379). Prints one markdown table:
 *  1. POST /v1/generations req/s and p99 at 10 and 100 connections (autocannon, time-bounded, after a warm-up; rate
 *     limit off, queue limit large; one worker busy with a long job, so POSTs take the ordinary "queued" path);
 *  2. enqueue-to-start p50/p99 (jobs paced 300 ms apart onto idle workers: started − accepted from each job's
 *     timeline; the peer's processedOn − timestamp) and claims/s (a burst of max(32, 4N) short jobs: starts per
 *     second from the first start to the last) with 1, 4 and 16 worker processes;
 *  3. jobs/hour with 2 s simulated jobs at 1 and 4 workers over a fixed window, against the ideal N × 1,800;
 *  4. recovery: a worker SIGKILLed mid-job (lease 5 s; peer: lockDuration = stalledInterval = 5 s) until the job
 *     starts on another worker; redis-server SIGKILLed and started again on its port and directory until a POST is
 *     answered 202 again and until a job running before the kill has finished.
 * Every process is a child killed at the end. Ratios are ours ÷ peer (2-core machines are noisy: compare within a run).
 *
 * Run: npm run bench:distributed     (about 5 minutes; BENCH_SECONDS sets each autocannon run, BENCH_WINDOW_SECONDS
 *                                     the jobs/hour window)
 */
import autocannon from 'autocannon';
import type { Queue } from 'bullmq';
import { startedBy } from '../test/support/cluster-api.js';
import { ProcessGroup } from '../test/support/processes.js';
import {
  GENERATION,
  GENERATION_SECONDS,
  PeerProcesses,
  allFinal,
  at,
  growWorkers,
  jobsInWindow,
  markdownTable,
  num,
  peerCompleted,
  peerQueue,
  percentile,
  ratio,
  startCluster,
  until,
  type Cluster,
} from './distributed-support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WINDOW_SECONDS = Number(process.env.BENCH_WINDOW_SECONDS ?? 30);
const BODY = JSON.stringify(GENERATION);
/** Simulated job length of the claim rows, ms (time scale 0.0005: 40 ms). */
const SHORT_JOB_MS = 40;
const PACED_JOBS = 15;
const PACE_MS = 300;
const LEASE_MS = 5_000;

type Row = [row: string, measure: string, ours: string, peer: string, ratio: string, note: string];

/** Runs `body` with a process group and peer processes, killing both at the end whatever happens. */
async function withProcesses<T>(body: (group: ProcessGroup, peers: PeerProcesses) => Promise<T>): Promise<T> {
  const group = new ProcessGroup();
  const peers = new PeerProcesses();
  try {
    return await body(group, peers);
  } finally {
    await peers.killAll();
    await group.killAll();
  }
}

async function cannon(url: string, connections: number, seconds: number): Promise<{ rps: number; p99: number; bad: number }> {
  const result = await autocannon({ url, method: 'POST', connections, duration: seconds, body: BODY, headers: { 'content-type': 'application/json' } });
  return { rps: result.requests.total / result.duration, p99: result.latency.p99, bad: result.non2xx + result.errors + result.timeouts };
}

/** Row 1: POST throughput beside fastify + BullMQ queue.add on the same Redis. */
async function httpRows(): Promise<Row[]> {
  return withProcesses(async (group, peers) => {
    // Time scale 1: the one worker takes the first job and runs it for 80 s, so every other POST is queued behind it.
    const cluster = await startCluster(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: '1' });
    await growWorkers(group, cluster, 1);
    const first = await cluster.api.submit(GENERATION);
    await until(async () => (await cluster.api.job(first)).status === 'running', 30_000, 'the worker busy with the first job');
    const peerUrl = await peers.http(cluster.redis.port, 'bench-http');
    const oursUrl = `${cluster.api.url}/v1/generations`;
    const rows: Row[] = [];
    for (const connections of [10, 100]) {
      await cannon(peerUrl, connections, SECONDS / 5);
      const peer = await cannon(peerUrl, connections, SECONDS);
      await cannon(oursUrl, connections, SECONDS / 5);
      const ours = await cannon(oursUrl, connections, SECONDS);
      const bad = ours.bad + peer.bad > 0 ? `; non-2xx/errors ours ${ours.bad}, peer ${peer.bad}` : '';
      rows.push(['1', `POST req/s, ${connections} conns`, num(ours.rps), num(peer.rps), ratio(ours.rps, peer.rps), `higher is better${bad}`]);
      rows.push(['1', `POST p99 ms, ${connections} conns`, num(ours.p99), num(peer.p99), ratio(ours.p99, peer.p99), 'lower is better']);
    }
    const queued = (await cluster.api.request<{ totalQueuedRequests?: number }>('/v1/queue')).body.totalQueuedRequests;
    rows.at(-1)![5] += `; ${queued ?? '?'} jobs queued at the end`;
    return rows;
  });
}

interface ClaimFigures {
  p50: number;
  p99: number;
  claimsPerSecond: number;
  /** Paced jobs that waited for their model (released by the gateway's tick) before being queued. */
  waitedForModel?: number;
}

/** Starts per second from the first start to the last. */
function startRate(starts: number[]): number {
  const sorted = [...starts].sort((a, b) => a - b);
  return ((sorted.length - 1) * 1000) / (sorted.at(-1)! - sorted[0]!);
}

async function oursClaims(cluster: Cluster, workers: number): Promise<ClaimFigures> {
  // Warm-up: every new worker runs a job (and the gateway sees its model loaded) before anything is measured.
  await allFinal(cluster.api, await Promise.all(Array.from({ length: 2 * workers }, () => cluster.api.submit(GENERATION))), 60_000);
  const paced: string[] = [];
  for (let i = 0; i < PACED_JOBS; i++) {
    paced.push(await cluster.api.submit(GENERATION));
    await new Promise((resolve) => setTimeout(resolve, PACE_MS));
  }
  const pacedJobs = await allFinal(cluster.api, paced, 60_000);
  const latencies = pacedJobs.map((job) => at(job, 'started') - at(job, 'accepted'));
  const waitedForModel = pacedJobs.filter((job) => job.timeline.some((e) => e.kind === 'waiting_for_model')).length;
  const burst = await Promise.all(Array.from({ length: Math.max(32, 4 * workers) }, () => cluster.api.submit(GENERATION)));
  const starts = (await allFinal(cluster.api, burst, 120_000)).map((job) => at(job, 'started'));
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), claimsPerSecond: startRate(starts), waitedForModel };
}

async function peerClaims(queue: Queue, workers: number): Promise<ClaimFigures> {
  const tag = `n${workers}`;
  await Promise.all(Array.from({ length: 2 * workers }, () => queue.add('generate', { ms: SHORT_JOB_MS, tag: `${tag}-warm` })));
  await peerCompleted(queue, `${tag}-warm`, 2 * workers, 60_000);
  for (let i = 0; i < PACED_JOBS; i++) {
    await queue.add('generate', { ...GENERATION, ms: SHORT_JOB_MS, tag: `${tag}-paced` });
    await new Promise((resolve) => setTimeout(resolve, PACE_MS));
  }
  const latencies = (await peerCompleted(queue, `${tag}-paced`, PACED_JOBS, 60_000)).map((job) => job.processedOn! - job.timestamp);
  const count = Math.max(32, 4 * workers);
  await Promise.all(Array.from({ length: count }, () => queue.add('generate', { ...GENERATION, ms: SHORT_JOB_MS, tag: `${tag}-burst` })));
  const starts = (await peerCompleted(queue, `${tag}-burst`, count, 120_000)).map((job) => job.processedOn!);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), claimsPerSecond: startRate(starts) };
}

/** Row 2: enqueue-to-start and claims/s with 1, 4 and 16 worker processes; ours first (workers added as N grows), then the peer's. */
async function claimRows(): Promise<Row[]> {
  const counts = [1, 4, 16];
  const scale = String(SHORT_JOB_MS / 1000 / GENERATION_SECONDS);
  const ours = new Map<number, ClaimFigures>();
  const peer = new Map<number, ClaimFigures>();
  await withProcesses(async (group) => {
    const cluster = await startCluster(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: scale });
    for (const n of counts) {
      await growWorkers(group, cluster, n);
      ours.set(n, await oursClaims(cluster, n));
    }
  });
  await withProcesses(async (group, peers) => {
    const redis = await group.startRedis();
    const queue = peerQueue(redis.port, 'bench-claims');
    try {
      for (const n of counts) {
        await peers.growWorkers(redis.port, 'bench-claims', n);
        peer.set(n, await peerClaims(queue, n));
      }
    } finally {
      await queue.close();
    }
  });
  const rows: Row[] = [];
  for (const n of counts) {
    const o = ours.get(n)!;
    const p = peer.get(n)!;
    rows.push(['2', `enqueue→start p50 ms, ${n} workers`, num(o.p50), num(p.p50), ratio(o.p50, p.p50), `lower is better; ${PACED_JOBS} jobs ${PACE_MS} ms apart, ${o.waitedForModel}/${PACED_JOBS} of ours via waiting_for_model`]);
    rows.push(['2', `enqueue→start p99 ms, ${n} workers`, num(o.p99), num(p.p99), ratio(o.p99, p.p99), 'lower is better']);
    rows.push(['2', `claims/s, ${n} workers`, num(o.claimsPerSecond, 1), num(p.claimsPerSecond, 1), ratio(o.claimsPerSecond, p.claimsPerSecond), `higher is better; burst of ${Math.max(32, 4 * n)} ${SHORT_JOB_MS} ms jobs`]);
  }
  return rows;
}

/** Row 3: jobs/hour with 2 s simulated jobs over a fixed window, against N × 1,800. */
async function throughputRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of [1, 4]) {
    const perHour = await withProcesses(async (group) => {
      const cluster = await startCluster(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: String(2 / GENERATION_SECONDS) });
      await growWorkers(group, cluster, n);
      const ids = await Promise.all(Array.from({ length: n * (WINDOW_SECONDS / 2 + 4) }, () => cluster.api.submit(GENERATION)));
      const from = Date.now() + 2_000;
      const to = from + WINDOW_SECONDS * 1000;
      await new Promise((resolve) => setTimeout(resolve, to + 3_000 - Date.now()));
      const jobs = await Promise.all(ids.map((id) => cluster.api.job(id)));
      const runs = jobs.filter((j) => j.status === 'succeeded').map((j): [number, number] => [at(j, 'started'), at(j, 'succeeded')]);
      return (jobsInWindow(runs, from, to) * 3600) / WINDOW_SECONDS;
    });
    rows.push(['3', `jobs/hour, 2 s jobs, ${n} worker${n > 1 ? 's' : ''}`, num(perHour), `ideal ${n * 1800}`, ratio(perHour, n * 1800), `ours ÷ ideal; ${WINDOW_SECONDS} s window`]);
  }
  return rows;
}

/** POSTs `body` to `url` every 50 ms until one is answered 202; resolves with when. */
async function first202(url: string, body: string): Promise<number> {
  return until(async () => {
    const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status === 202 ? Date.now() : undefined;
  }, 60_000, `a 202 from ${url}`);
}

/** Row 4: a worker SIGKILLed mid-job, and redis-server SIGKILLed and restarted. */
async function recoveryRows(): Promise<Row[]> {
  return withProcesses(async (group, peers) => {
    const jobMs = 10_000;
    const cluster = await startCluster(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: String(jobMs / 1000 / GENERATION_SECONDS), UNDERSTUDY_JOBS_LEASE_MS: String(LEASE_MS) });
    await growWorkers(group, cluster, 2);
    const port = cluster.redis.port;
    await peers.growWorkers(port, 'bench-recovery', 2, LEASE_MS);
    const queue = peerQueue(port, 'bench-recovery');
    try {
      // A worker SIGKILLed mid-job. Ours:
      const id = await cluster.api.submit(GENERATION);
      const running = await until(async () => {
        const job = await cluster.api.job(id);
        return job.status === 'running' && job.progress > 0 ? job : undefined;
      }, 30_000, 'the job running');
      const victim = cluster.workers.get(startedBy(running)[0]!)!;
      victim.process.kill('SIGKILL');
      const killedAt = Date.now();
      await victim.exited;
      const again = await until(async () => {
        const job = await cluster.api.job(id);
        return startedBy(job).length >= 2 ? job : undefined;
      }, 60_000, 'the job started again', 100);
      const oursCrash = at(again, 'started', 1) - killedAt;
      // The peer's:
      const peerJob = await queue.add('generate', { ms: jobMs, tag: 'crash' });
      const startPattern = new RegExp(`^start ${peerJob.id}$`, 'm');
      const holder = await Promise.any(peers.workers.map(async (w) => (await w.waitForOutput(startPattern, 30_000), w)));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      holder.process.kill('SIGKILL');
      const peerKilledAt = Date.now();
      await holder.exited;
      const other = peers.workers.find((w) => w !== holder)!;
      const peerCrash = await other
        .waitForOutput(startPattern, 90_000)
        .then(() => Date.now() - peerKilledAt)
        .catch(() => Number.NaN);

      // redis-server SIGKILLed with a job running on each side, then started again on its port and directory.
      await until(async () => (await cluster.api.job(id)).status === 'succeeded', 60_000, 'the crashed job to finish', 100);
      await peerCompleted(queue, 'crash', 1, 60_000).catch(() => []);
      const peerUrl = await peers.http(port, 'bench-probe');
      const before = await cluster.api.submit(GENERATION);
      await until(async () => (await cluster.api.job(before)).status === 'running', 30_000, 'a job running before the kill');
      const peerBefore = await queue.add('generate', { ms: jobMs, tag: 'restart' });
      await other.waitForOutput(new RegExp(`^start ${peerBefore.id}$`, 'm'), 30_000);
      cluster.redis.child.process.kill('SIGKILL');
      const redisKilledAt = Date.now();
      await cluster.redis.child.exited;
      await group.startRedis({ port, dir: cluster.redis.dir });
      const readyAt = Date.now();
      const [ours202, peer202] = await Promise.all([first202(`${cluster.api.url}/v1/generations`, BODY), first202(peerUrl, BODY)]);
      const oursDone = await until(async () => {
        const job = await cluster.api.job(before);
        return ['succeeded', 'failed'].includes(job.status) ? job : undefined;
      }, 90_000, 'the job accepted before the kill to finish', 100);
      const peerDone = await peerCompleted(queue, 'restart', 1, 60_000).then(([job]) => job!.finishedOn! - redisKilledAt).catch(() => Number.NaN);
      const oursFinish = oursDone.status === 'succeeded' ? at(oursDone, 'succeeded') - redisKilledAt : Number.NaN;
      const s = (ms: number): string => num(ms / 1000, 1);
      return [
        ['4', 'worker SIGKILL → job started elsewhere, s', s(oursCrash), s(peerCrash), ratio(oursCrash, peerCrash), `lower is better; lease ${LEASE_MS / 1000} s (peer lockDuration = stalledInterval)`],
        ['4', 'Redis restarted → first POST 202, s', s(ours202 - readyAt), s(peer202 - readyAt), ratio(ours202 - readyAt, peer202 - readyAt), `lower is better; restart took ${s(readyAt - redisKilledAt)} s after the kill`],
        ['4', 'Redis SIGKILL → job running then finishes, s', s(oursFinish), s(peerDone), ratio(oursFinish, peerDone), `lower is better; started just before the kill, ${jobMs / 1000} s jobs${oursDone.status === 'succeeded' ? '' : `; ours ${oursDone.status}`}`],
      ] satisfies Row[];
    } finally {
      await queue.close();
    }
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const rows: Row[] = [['#', 'measure', 'Understudy', 'peer (BullMQ)', 'ours/peer', 'note']];
  const sections: Array<[string, () => Promise<Row[]>]> = [
    ['1 POST throughput', httpRows],
    ['2 claims', claimRows],
    ['3 jobs/hour', throughputRows],
    ['4 recovery', recoveryRows],
  ];
  for (const [name, section] of sections) {
    const t = Date.now();
    try {
      rows.push(...(await section()));
    } catch (error) {
      rows.push([name[0]!, name, 'failed', '—', '—', (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').slice(0, 200)]);
      process.exitCode = 1;
    }
    process.stderr.write(`${name}: ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
  }
  console.log(markdownTable(rows));
  console.log(
    `\nPrivate redis-server (appendonly yes, appendfsync always, noeviction) per section; autocannon ${SECONDS} s per run after ${SECONDS / 5} s warm-up; ` +
      `Node ${process.version}; ${Math.round((Date.now() - started) / 1000)} s in all.`,
  );
}

await main();
