/**
 * The service and the CLI as real processes: `src/interfaces/main.ts` (what `npm start` runs) and
 * `bin/understudy.js`, talking over HTTP and WebSocket only.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from './support.js';

const ROOT = resolve(import.meta.dirname, '../..');

// A 1x1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/** The environment without any UNDERSTUDY_* variable of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNDERSTUDY_')));
  return { ...env, ...extra };
}

/** A child process with its output collected and its exit awaited. */
interface Child {
  process: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { process: child, stdout: () => out, stderr: () => err, exited };
}

/** Runs the CLI to the end; resolves with its exit status and output. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = run(['bin/understudy.js', ...args], env);
  const code = await withDeadline(child.exited, 30_000, `understudy ${args.join(' ')}`);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe('the service process and the CLI', () => {
  let dataDir: string;
  let server: Child;
  let url: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'understudy-process-'));
    server = run(['src/interfaces/main.ts', '--port', '0', '--data-dir', dataDir], {
      UNDERSTUDY_SIMULATED_TIME_SCALE: '0.002',
      // 4 MiB/s: a 14 GiB model downloads in about 7 s, long enough to cancel a job waiting for it.
      UNDERSTUDY_SIMULATED_DOWNLOAD_MIB_PER_SECOND: '4',
      UNDERSTUDY_HEALTH_INTERVAL_SECONDS: '0',
      UNDERSTUDY_SHUTDOWN_GRACE_SECONDS: '5',
    });
    url = await waitUntil(
      async () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())?.[1],
      20_000,
      'the printed URL',
      (wake) => server.process.stdout!.once('data', wake),
    );
  });

  after(async () => {
    if (server.process.exitCode === null) server.process.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('npm start prints the URL it serves on', async () => {
    const response = await fetch(`${url}/healthz`);
    assert.equal(response.status, 200);
  });

  test('understudy submit shows the plan, follows the job over the WebSocket and prints the outcome and timeline', async () => {
    const { code, stdout, stderr } = await cli(['--url', url, 'submit', '--model', 't2v-A14B', '--prompt', 'a red fox running through snow']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /plan: download_and_retry on t2v-A14B/);
    assert.match(stdout, /options considered/);
    assert.match(stdout, /\[#+-*\]\s+\d+%/, 'a progress bar');
    assert.match(stdout, /succeeded on t2v-A14B: video, image\/gif/);
    assert.match(stdout, /timeline:[\s\S]*accepted[\s\S]*started[\s\S]*succeeded/);
  });

  test('--json prints the final generation for scripts', async () => {
    const { code, stdout } = await cli(['--url', url, '--json', 'submit', '--model', 'ti2v-5B', '--prompt', 'waves']);
    assert.equal(code, 0);
    const result = JSON.parse(stdout) as { accepted: { id: string }; generations: Array<{ id: string; status: string }> };
    assert.equal(result.generations[0]!.id, result.accepted.id);
    assert.equal(result.generations[0]!.status, 'succeeded');

    const models = await cli(['--url', url, '--json', 'models']);
    assert.equal(models.code, 0);
    assert.equal((JSON.parse(models.stdout) as unknown[]).length, 3);
  });

  test('the other commands answer in words', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['models'], /ti2v-5B\s+available/],
      [['alternatives', 'i2v-A14B', '--image'], /excluded t2v-A14B: .*image/],
      [['wait-time', 'i2v-A14B'], /i2v-A14B: about/],
      [['strategy', 'ti2v-5B', '--failure', 'vram_exhaustion'], /situation vram_exhaustion/],
      [['queue'], /waiting/],
      [['health'], /health: (healthy|degraded|critical)/],
      [['workers'], /last heartbeat .* ago.*\n {2}\S+: \d\/\d busy, [\d.]+ of 24\.0 GB free, (healthy|degraded|critical)\n {4}installed: (\S+, )*ti2v-5B/],
      [['recovery', 'stats'], /recovery: \d+ attempts/],
      [['recovery', 'reset'], /recovery state reset/],
      [['jobs', '--status', 'succeeded'], /succeeded/],
    ];
    for (const [args, pattern] of cases) {
      const { code, stdout, stderr } = await cli(['--url', url, ...args]);
      assert.equal(code, 0, `${args.join(' ')}: ${stderr}`);
      assert.match(stdout, pattern, args.join(' '));
    }
  });

  test('submit --image sends the file as a data URL', async () => {
    const image = join(dataDir, 'pixel.png');
    await writeFile(image, Buffer.from(PNG, 'base64'));
    const submitted = await cli(['--url', url, '--json', 'submit', '--model', 'ti2v-5B', '--prompt', 'the pixel, moving', '--image', image, '--detach']);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.equal((JSON.parse(submitted.stdout) as { plan: { strategyType: string } }).plan.strategyType, 'as_requested');

    const missing = await cli(['--url', url, 'submit', '--model', 'ti2v-5B', '--image', join(dataDir, 'missing.png')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--image: cannot read/);
  });

  test('job and cancel; exit codes say what went wrong', async () => {
    const unknown = await cli(['--url', url, 'job', 'no-such-job']);
    assert.equal(unknown.code, 6);
    assert.match(unknown.stderr, /404 not_found/);

    const invalid = await cli(['--url', url, 'submit', '--model', 'sora', '--prompt', 'x']);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /model: unknown model/);

    const image = join(dataDir, 'pixel.png');
    const rejected = await cli(['--url', url, 'submit', '--model', 'i2v-A14B', '--image', image, '--no-alternatives', '--no-mock', '--max-wait', '1']);
    assert.equal(rejected.code, 4, rejected.stderr);

    const usage = await cli(['--url', url, 'submit']);
    assert.equal(usage.code, 2);

    const unreachable = await cli(['--url', 'http://127.0.0.1:1', 'queue']);
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /cannot reach the Understudy server/);

    // Cancelled first, while its model still downloads (about 7 s), so that a slow CLI start cannot let it run.
    const waiting = JSON.parse((await cli(['--url', url, '--json', 'submit', '--model', 'i2v-A14B', '--image', image, '--no-alternatives', '--detach'])).stdout) as { id: string };
    const cancelled = await cli(['--url', url, 'cancel', waiting.id]);
    assert.match(cancelled.stdout, /cancelled/);
    const job = await cli(['--url', url, 'job', waiting.id]);
    assert.equal(job.code, 0);
    assert.match(job.stdout, new RegExp(`generation ${waiting.id}`));
    assert.match(job.stdout, /cancelled/);
    const again = await cli(['--url', url, 'cancel', waiting.id]);
    assert.equal(again.code, 8);
  });

  test('SIGTERM stops the service cleanly', async () => {
    server.process.kill('SIGTERM');
    const code = await withDeadline(server.exited, 20_000, 'the service to exit');
    assert.equal(code, 0, server.stderr());
    assert.match(server.stdout(), /SIGTERM: shutting down[\s\S]*stopped/);
  });
});

describe('the service process refuses to start', () => {
  test('beyond loopback without a token, saying why (exit 2)', async () => {
    const child = run(['src/interfaces/main.ts', '--port', '0'], { UNDERSTUDY_HOST: '0.0.0.0' });
    assert.equal(await withDeadline(child.exited, 20_000, 'exit'), 2);
    assert.match(child.stderr(), /refusing to listen on 0\.0\.0\.0 without a token/);
  });

  test('on a bad config, naming the key and its source (exit 2)', async () => {
    const child = run(['src/interfaces/main.ts'], { UNDERSTUDY_PORT: 'eighty' });
    assert.equal(await withDeadline(child.exited, 20_000, 'exit'), 2);
    assert.match(child.stderr(), /port \(environment UNDERSTUDY_PORT\): .*expected number/);
  });
});
