/**
 * Download throughput: our downloader (sha256 verified while streaming, Range-capable, atomic rename) beside
 * `curl -s -o file URL`, on the same 1 GiB generated file served over loopback by a node:http server in a separate
 * process, in alternating runs after one warm-up run of each (not counted: on this kind of virtual machine memory the
 * guest touches for the first time is slow to hand out, and the first gigabyte written pays for it, whoever writes it).
 * Each downloader row has its like among the curl rows: without fsync, plain curl (the file in the page cache); with
 * fsync, curl followed by `sync -d` on the file (the file on disk, as the downloader has it before its rename).
 * Run with `npx tsx bench/download.ts` (about a minute).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { SystemClock } from '../src/adapters/system-clock.js';
import { ModelDownloader } from '../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../src/adapters/model-files/models-directory.js';

const FILE_BYTES = 1024 ** 3;
/** Counted rounds: a multiple of the number of tools, so that the rotation is even. */
const ROUNDS = 8;
const MB = 1e6;
const CURL = 'curl -s -o';
const CURL_SYNCED = 'curl -s -o, then sync -d';
/**
 * Pause after each run's file is deleted, ms (BENCH_SETTLE_MS, default 0). This kind of VM reports freed memory to its
 * host about 2 s after it is freed (Linux free page reporting), and memory reported is slow to touch again. Without a
 * pause, each run mostly reuses the gigabyte the run before freed (curl's best case); with 3000, every run starts from
 * reported memory, as a download on a machine that has been idle would.
 */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 0);
/** Downloads land here when set (e.g. a tmpfs, to measure the downloader rather than the disk). */
const OUTPUT_BASE = process.env.BENCH_OUTPUT_DIR;

/**
 * The file server, in its own process so it does not compete with the downloader for an event loop. It holds the file
 * in memory, so that serving costs little CPU and the two clients, not the server, are what is measured.
 */
const SERVER_SOURCE = `
const http = require('node:http');
const body = require('node:fs').readFileSync(process.argv[1]);
http.createServer((req, res) => {
  const match = /^bytes=(\\d+)-$/.exec(req.headers.range || '');
  const start = match ? Number(match[1]) : 0;
  res.writeHead(match ? 206 : 200, {
    'content-length': body.length - start,
    ...(match ? { 'content-range': 'bytes ' + start + '-' + (body.length - 1) + '/' + body.length } : {}),
  });
  res.end(body.subarray(start));
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
`;

interface Run {
  tool: string;
  seconds: number;
  /** CPU seconds (user + system, all threads), when measurable. */
  cpuSeconds: number | undefined;
}

interface Timing {
  seconds: number;
  cpuSeconds: number | undefined;
}

async function generate(path: string): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const chunk = 16 * 1024 * 1024;
  for (let written = 0; written < FILE_BYTES; written += chunk) {
    const bytes = randomBytes(chunk);
    hash.update(bytes);
    if (!out.write(bytes)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

/**
 * Runs curl under `sh`, which then prints its own /proc stat: fields 16 and 17 (cutime, cstime) are the CPU ticks of
 * the children it waited for, i.e. curl's.
 */
async function timeCurl(url: string, output: string, fdatasync: boolean): Promise<Timing> {
  const started = performance.now();
  const script = `curl -s -o "$1" "$2"${fdatasync ? ' && sync -d "$1"' : ''} && cat /proc/$$/stat`;
  const shell = spawn('sh', ['-c', script, 'sh', output, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stat = '';
  shell.stdout.on('data', (chunk: Buffer) => (stat += chunk.toString()));
  const [code] = (await once(shell, 'exit')) as [number];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`curl exited with ${code}`);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  return { seconds, cpuSeconds: Number.isFinite(ticks) && stat ? ticks / 100 : undefined };
}

async function timeOurs(url: string, root: string, sha256: string, fsync: boolean): Promise<Timing> {
  const downloader = new ModelDownloader({ directory: new ModelsDirectory({ root }), clock: new SystemClock() }, { fsync });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const result = await downloader.download({ path: 'bench/model.bin', sizeBytes: FILE_BYTES, sha256, urls: [url] });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (result.sha256 !== sha256) throw new Error('digest mismatch');
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'understudy-bench-download-'));
  const source = join(dir, 'source.bin');
  process.stdout.write(`generating ${FILE_BYTES / 1024 ** 3} GiB in ${dir} ... `);
  const sha256 = await generate(source);
  console.log('done');
  const server = spawn(process.execPath, ['-e', SERVER_SOURCE, source], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    server.stdout.setEncoding('utf8');
    const [port] = (await once(server.stdout, 'data')) as [string];
    const url = `http://127.0.0.1:${port.trim()}/model.bin`;
    const runs: Run[] = [];
    const tools: [string, (root: string) => Promise<Timing>][] = [
      [CURL, (root) => timeCurl(url, join(root, 'curl.bin'), false)],
      [CURL_SYNCED, (root) => timeCurl(url, join(root, 'curl.bin'), true)],
      ['understudy (sha256, fsync)', (root) => timeOurs(url, root, sha256, true)],
      ['understudy (sha256, no fsync)', (root) => timeOurs(url, root, sha256, false)],
    ];
    for (let round = 0; round <= ROUNDS; round++) {
      // Each round starts with the next tool, so that each takes each place in the order (the run after another
      // tool's gigabyte pays for the memory it freed) as often as the others.
      const order = tools.map((_, i) => tools[(i + round) % tools.length]!);
      for (const [tool, time] of order) {
        const root = join(OUTPUT_BASE ?? dir, `run-${round}-${tool.length}`);
        await mkdir(root);
        const timing = await time(root);
        if (round > 0) runs.push({ tool, ...timing });
        await rm(root, { recursive: true, force: true });
        await setTimeout(SETTLE_MS);
        const cpu = timing.cpuSeconds === undefined ? '' : `, ${timing.cpuSeconds.toFixed(2)} CPU s`;
        const label = round === 0 ? 'warm-up' : `round ${round}`;
        console.log(`${label.padEnd(8)} ${tool.padEnd(36)} ${(FILE_BYTES / MB / timing.seconds).toFixed(0)} MB/s${cpu}`);
      }
    }
    const rateOf = (tool: string): number => FILE_BYTES / MB / median(runs.filter((r) => r.tool === tool).map((r) => r.seconds));
    const cpus = (tool: string): number[] =>
      runs.flatMap((r) => (r.tool === tool && r.cpuSeconds !== undefined ? [r.cpuSeconds] : []));
    const percent = (tool: string, base: string): string => `${((rateOf(tool) / rateOf(base)) * 100).toFixed(0)} %`;
    console.log(`\nload average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} CPUs`);
    console.log(
      `| tool | median MB/s | runs (MB/s) | vs ${CURL} | vs ${CURL_SYNCED} | median CPU s per GiB |\n| --- | ---: | --- | ---: | ---: | ---: |`,
    );
    for (const [tool] of tools) {
      const each = runs.filter((r) => r.tool === tool).map((r) => (FILE_BYTES / MB / r.seconds).toFixed(0)).join(', ');
      const cpu = cpus(tool).length ? median(cpus(tool)).toFixed(2) : 'n/a';
      console.log(`| ${tool} | ${rateOf(tool).toFixed(0)} | ${each} | ${percent(tool, CURL)} | ${percent(tool, CURL_SYNCED)} | ${cpu} |`);
    }
  } finally {
    server.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
