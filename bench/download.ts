/**
 * Download throughput, side by side in one run: a generated file served over loopback by bench/download-server.ts (a
 * separate process, from memory) with each connection capped at 50 MB/s, the way a CDN caps one connection, fetched in
 * alternating order by curl (one connection), aria2c -x 4 -s 4 (sha256 checked by aria2c itself), and our downloader
 * with 1 and 4 connections (sha256 verified before the rename); then the same uncapped. Every output's sha256 is
 * checked; curl's by `openssl dgst -sha256`, timed as a row of its own beside curl's: what hashing adds to a downloader
 * in C.
 * fsync is off for ours (neither curl nor aria2c flushes). CPU seconds are user + system of all threads of the
 * downloading process (for curl, aria2c and openssl, the child's).
 *
 * `npx tsx bench/download.ts`; BENCH_FILE_GIB (default 2), BENCH_CAPPED_ROUNDS (3), BENCH_UNCAPPED_ROUNDS (3),
 * BENCH_OUTPUT_DIR (where downloads land; default the temp dir). Installs Debian's aria2 when aria2c is missing.
 */
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SystemClock } from '../src/adapters/system-clock.js';
import { ModelDownloader } from '../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../src/adapters/model-files/models-directory.js';

const GIB = 1024 ** 3;
const MB = 1e6;
const FILE_BYTES = Math.round(Number(process.env.BENCH_FILE_GIB ?? 2) * GIB);
const CAP_BYTES_PER_SECOND = 50 * MB;
const CAPPED_ROUNDS = Number(process.env.BENCH_CAPPED_ROUNDS ?? 3);
const UNCAPPED_ROUNDS = Number(process.env.BENCH_UNCAPPED_ROUNDS ?? 3);
const OUTPUT_BASE = process.env.BENCH_OUTPUT_DIR;

interface Timing {
  seconds: number;
  cpuSeconds: number;
  /** A second row measured in the same run (curl's file then hashed by sha256sum). */
  also?: [name: string, timing: Timing];
}

type Tool = [name: string, run: (url: string, dir: string, sha256: string) => Promise<Timing>];

async function generate(path: string): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const chunk = 16 * 1024 * 1024;
  for (let written = 0; written < FILE_BYTES; written += chunk) {
    const bytes = randomBytes(Math.min(chunk, FILE_BYTES - written));
    hash.update(bytes);
    if (!out.write(bytes)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}


/**
 * Runs `command` under `sh`, which then prints the command's output and its own /proc stat: fields 16 and 17 (cutime,
 * cstime) are the CPU ticks of the children it waited for, i.e. the command's.
 */
async function timeCommand(command: string[]): Promise<Timing & { output: string }> {
  const started = performance.now();
  const shell = spawn('sh', ['-c', '"$@" && echo && cat /proc/$$/stat', 'sh', ...command], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  shell.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const [code] = (await once(shell, 'exit')) as [number];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${command[0]} exited with ${code}`);
  const stat = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { seconds, cpuSeconds: (Number(fields[13]) + Number(fields[14])) / 100, output: text.slice(0, text.length - stat.length) };
}

/** The row of curl's download followed by `openssl dgst -sha256` of its file: what hashing adds to a C downloader. */
const CURL_THEN_SHA256SUM = 'curl, then openssl sha256 of its file';

const curl: Tool = [
  'curl (1 connection)',
  async (url, dir, sha256) => {
    const { seconds, cpuSeconds } = await timeCommand(['curl', '-s', '-o', join(dir, 'curl.bin'), url]);
    const hashed = await timeCommand(['openssl', 'dgst', '-sha256', '-r', join(dir, 'curl.bin')]);
    if (!hashed.output.startsWith(sha256)) throw new Error('curl: digest mismatch');
    const total = { seconds: seconds + hashed.seconds, cpuSeconds: cpuSeconds + hashed.cpuSeconds };
    return { seconds, cpuSeconds, also: [CURL_THEN_SHA256SUM, total] };
  },
];

const aria2c: Tool = [
  'aria2c -x 4 -s 4 (sha256)',
  (url, dir, sha256) =>
    timeCommand([
      'aria2c', '-q', '-x', '4', '-s', '4', '--file-allocation=none', '--allow-overwrite=true', '--auto-file-renaming=false',
      `--checksum=sha-256=${sha256}`, '-d', dir, '-o', 'aria2.bin', url,
    ]),
];

function ours(connections: number): Tool {
  return [
    `understudy, ${connections} connection${connections === 1 ? '' : 's'} (sha256)`,
    async (url, dir, sha256) => {
      const downloader = new ModelDownloader(
        { directory: new ModelsDirectory({ root: dir }), clock: new SystemClock() },
        { fsync: false, connections },
      );
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const result = await downloader.download({ path: 'model.bin', sizeBytes: FILE_BYTES, sha256, urls: [url] });
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      if (result.sha256 !== sha256) throw new Error('digest mismatch');
      return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    },
  ];
}

async function startServer(source: string, cap: number): Promise<{ url: string; process: ChildProcessByStdio<null, Readable, null> }> {
  const server = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, 'download-server.ts'), source, String(cap)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  server.stdout.setEncoding('utf8');
  const exited = once(server, 'exit').then(([code]) => Promise.reject(new Error(`the file server exited with ${String(code)}`)));
  const [port] = (await Promise.race([once(server.stdout, 'data'), exited])) as [string];
  exited.catch(() => undefined);
  return { url: `http://127.0.0.1:${port.trim()}/model.bin`, process: server };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Runs each tool `rounds` times, each round starting with the next tool, and prints the table. */
async function compare(title: string, url: string, tools: Tool[], rounds: number, dir: string, sha256: string): Promise<void> {
  const runs = new Map<string, Timing[]>(tools.flatMap(([name]) => (name === curl[0] ? [[name, []], [CURL_THEN_SHA256SUM, []]] : [[name, []]])));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < tools.length; i++) {
      const [name, run] = tools[(i + round) % tools.length] as Tool;
      const out = join(OUTPUT_BASE ?? dir, `run-${round}-${i}`);
      await mkdir(out, { recursive: true });
      const timing = await run(url, out, sha256);
      await rm(out, { recursive: true, force: true });
      for (const [row, each] of [[name, timing], ...(timing.also ? [timing.also] : [])] as [string, Timing][]) {
        runs.get(row)?.push(each);
        console.log(`${title} round ${round + 1}: ${row.padEnd(36)} ${(FILE_BYTES / MB / each.seconds).toFixed(0)} MB/s, ${each.cpuSeconds.toFixed(2)} CPU s`);
      }
    }
  }
  const rate = (name: string): number => FILE_BYTES / MB / median((runs.get(name) ?? []).map((t) => t.seconds));
  const base = rate(curl[0]);
  console.log(`\n${title} (${FILE_BYTES / GIB} GiB, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} CPUs)`);
  console.log('| tool | median MB/s | runs (MB/s) | vs curl | median CPU s per GiB |\n| --- | ---: | --- | ---: | ---: |');
  for (const name of runs.keys()) {
    const each = (runs.get(name) ?? []).map((t) => (FILE_BYTES / MB / t.seconds).toFixed(0)).join(', ');
    const cpu = median((runs.get(name) ?? []).map((t) => t.cpuSeconds / (FILE_BYTES / GIB)));
    console.log(`| ${name} | ${rate(name).toFixed(0)} | ${each} | ${(rate(name) / base).toFixed(2)}× | ${cpu.toFixed(2)} |`);
  }
  console.log();
}

function ensureAria2(): void {
  try {
    execFileSync('aria2c', ['--version'], { stdio: 'ignore' });
  } catch {
    console.log('aria2c is missing: apt-get install -y aria2');
    execFileSync('apt-get', ['install', '-y', 'aria2'], { stdio: 'inherit' });
  }
}

async function main(): Promise<void> {
  ensureAria2();
  const dir = await mkdtemp(join(tmpdir(), 'understudy-bench-download-'));
  const source = join(dir, 'source.bin');
  const servers: ChildProcessByStdio<null, Readable, null>[] = [];
  try {
    process.stdout.write(`generating ${FILE_BYTES / GIB} GiB in ${dir} ... `);
    const sha256 = await generate(source);
    console.log('done');
    const capped = await startServer(source, CAP_BYTES_PER_SECOND);
    const uncapped = await startServer(source, 0);
    servers.push(capped.process, uncapped.process);
    const tools = [curl, aria2c, ours(1), ours(4)];
    if (CAPPED_ROUNDS > 0) await compare(`Each connection capped at ${CAP_BYTES_PER_SECOND / MB} MB/s`, capped.url, tools, CAPPED_ROUNDS, dir, sha256);
    await compare('Uncapped', uncapped.url, tools, UNCAPPED_ROUNDS, dir, sha256);
  } finally {
    for (const server of servers) server.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
