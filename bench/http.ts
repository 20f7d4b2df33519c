/**
 * HTTP throughput: POST /v1/generations and GET /v1/queue under autocannon, each beside a bare fastify route that
 * does the least the same request could (parse the JSON body, answer a small JSON), and POST beside the peer a user
 * would write instead: a fastify route that calls BullMQ's `queue.add` on Redis, once on a Redis that syncs every
 * write (`appendonly yes`, `appendfsync always`: durable like ours, started by the bench on a free port) and once on
 * the machine's Redis on 6379 (no sync). All on the same machine in the same run. The servers run in a child
 * process so that autocannon does not share their event loop. The rate limit is off (it would measure itself), the
 * log is silent, and the queue is large enough to take every POST.
 *
 * Run: npm run bench:http            (about 90 s; BENCH_SECONDS sets the length of each run)
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { ServiceConfigSchema } from '../src/interfaces/config.js';
import { startService } from '../src/interfaces/http/service.js';
import { bullmqPeer } from './distributed-peer.js';

/** Seconds per measured run, after a fifth of that to warm up. Every run is bounded by time, not by a count:
 * autocannon checks a request count only once a second, which would quantise the figures. */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 10;
const BODY = JSON.stringify({ model: 'ti2v-5B', prompt: 'a lighthouse at dusk, waves breaking', resolution: '1280x720' });

interface Urls {
  understudy: string;
  bare: string;
  /** fastify + BullMQ on a Redis with appendfsync always. */
  bullmqDurable: string;
  /** fastify + BullMQ on a Redis that does not sync. */
  bullmqVolatile: string;
}

/** A free TCP port on loopback. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Starts a redis-server that syncs every write to its append-only file; resolves once it answers. */
async function startDurableRedis(dir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ready = await new Promise<boolean>((resolve) => {
      const probe = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      probe.stdout.on('data', (d: Buffer) => (out += d.toString()));
      probe.once('exit', () => resolve(out.trim() === 'PONG'));
    });
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    stop: async () => {
      redis.kill('SIGTERM');
      await new Promise((resolve) => redis.once('exit', resolve));
    },
  };
}

/** Child: the Understudy service and the bare route, until stdin closes. */
async function serve(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-bench-'));
  const service = await startService(
    ServiceConfigSchema.parse({ port: 0, dataDir, logLevel: 'silent', maxQueueSize: 1_000_000, rateLimit: { max: 0 }, healthIntervalSeconds: 0 }),
  );
  const bare = Fastify();
  bare.get('/bare', async () => ({ totalQueuedRequests: 0, queueByModel: {}, maxQueueSize: 100, queueUtilization: 0 }));
  bare.post('/bare', async (request, reply) => {
    const body = request.body as { model?: string };
    return reply.code(202).send({ id: randomUUID(), status: 'queued', model: body.model });
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const address = bare.server.address();
  const durableRedis = await startDurableRedis(dataDir);
  const durable = await bullmqPeer(durableRedis.port);
  const volatile = await bullmqPeer(6379);
  const urls: Urls = {
    understudy: service.url,
    bare: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    bullmqDurable: durable.url,
    bullmqVolatile: volatile.url,
  };
  process.stdout.write(`${JSON.stringify(urls)}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    void (async () => {
      await bare.close();
      await durable.close();
      await volatile.close();
      await durableRedis.stop();
      await service.stop();
      await rm(dataDir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

interface Measure {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function measure(url: string, method: 'GET' | 'POST', seconds: number): Promise<Measure> {
  const result = await autocannon({
    url,
    method,
    connections: CONNECTIONS,
    duration: seconds,
    ...(method === 'POST' ? { body: BODY, headers: { 'content-type': 'application/json' } } : {}),
  });
  return { rps: result.requests.total / result.duration, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

/** autocannon's latencies are whole milliseconds. */
function ms(value: number): string {
  return value < 1 ? '<1' : String(value);
}

function markdownTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** Parent: starts the child, runs every case (bare first, then Understudy), prints the table. */
async function main(): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const urls = await new Promise<Urls>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line) as Urls));
    child.once('exit', (code) => reject(new Error(`the bench server exited with ${code}`)));
  });
  const cases = [
    { name: 'GET /v1/queue', method: 'GET' as const, url: `${urls.understudy}/v1/queue`, bare: `${urls.bare}/bare`, target: 0.7 },
    { name: 'POST /v1/generations', method: 'POST' as const, url: `${urls.understudy}/v1/generations`, bare: `${urls.bare}/bare`, target: 0.4 },
  ];
  const rows: string[][] = [['route', 'req/s', 'p99 ms', 'bare req/s', 'bare p99 ms', 'ratio', 'target', 'non-2xx']];
  let missed = false;
  for (const c of cases) {
    await measure(c.bare, c.method, SECONDS / 5);
    const bare = await measure(c.bare, c.method, SECONDS);
    await measure(c.url, c.method, SECONDS / 5);
    const real = await measure(c.url, c.method, SECONDS);
    const ratio = real.rps / bare.rps;
    missed ||= ratio < c.target;
    rows.push([c.name, real.rps.toFixed(0), ms(real.p99), bare.rps.toFixed(0), ms(bare.p99), `${(ratio * 100).toFixed(0)} %`, `>= ${c.target * 100} %`, String(real.non2xx + real.errors)]);
  }
  const peers = [
    { name: 'fastify + BullMQ, Redis appendfsync always', url: urls.bullmqDurable, target: 1.0 },
    { name: 'fastify + BullMQ, Redis without sync', url: urls.bullmqVolatile, target: undefined },
  ];
  const peerRows: string[][] = [['POST /v1/generations beside', 'peer req/s', 'peer p99 ms', 'understudy req/s', 'understudy p99 ms', 'ratio', 'target']];
  for (const peer of peers) {
    await measure(peer.url, 'POST', SECONDS / 5);
    const theirs = await measure(peer.url, 'POST', SECONDS);
    await measure(cases[1]!.url, 'POST', SECONDS / 5);
    const ours = await measure(cases[1]!.url, 'POST', SECONDS);
    const ratio = ours.rps / theirs.rps;
    if (peer.target !== undefined) missed ||= ratio < peer.target;
    peerRows.push([peer.name, theirs.rps.toFixed(0), ms(theirs.p99), ours.rps.toFixed(0), ms(ours.p99), `${ratio.toFixed(2)}x`, peer.target === undefined ? '-' : `>= ${peer.target.toFixed(1)}x`]);
  }
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  console.log(markdownTable(rows));
  console.log();
  console.log(markdownTable(peerRows));
  console.log(
    `${CONNECTIONS} connections, ${SECONDS} s per run after ${SECONDS / 5} s to warm up; p99 latency in ms; Node ${process.version}`,
  );
  if (missed) process.exitCode = 1;
}

await (process.argv.includes('--serve') ? serve() : main());
