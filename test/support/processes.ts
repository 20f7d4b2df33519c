/**
 * Real processes for the cluster tests: a private redis-server on a free port with its own directory, and Understudy
 * gateways and workers as child processes (`bin/understudy.js serve|worker`). Everything started here is killed for
 * real by {@link ProcessGroup.killAll} (SIGKILL), and can be paused, resumed or killed one by one for the crash tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** A child process with its output collected and its exit awaited. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** Resolves with the first match of `pattern` in stdout (group 1 when it has one); rejects if the process exits first or after `ms`. */
  waitForOutput(pattern: RegExp, ms?: number): Promise<string>;
}

/** The environment without any UNDERSTUDY_* variable of the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNDERSTUDY_')));
  return { ...env, ...extra };
}

/** A free TCP port on loopback (free when asked; the caller binds it soon after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** Rejects after `ms` with a message naming what was awaited. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Starts `command args` with its output collected. */
export function startChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const wake of waiters) wake();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const waitForOutput = (pattern: RegExp, ms = 30_000): Promise<string> => {
    const found = new Promise<string>((done, fail) => {
      const check = (): void => {
        const match = pattern.exec(out);
        if (match) {
          waiters.delete(check);
          done(match[1] ?? match[0]);
        }
      };
      waiters.add(check);
      check();
      void exited.then((code) => {
        waiters.delete(check);
        fail(new Error(`${name} exited (${code}) before printing ${pattern}; stderr: ${err}`));
      });
    });
    return withDeadline(found, ms, `${name} to print ${pattern}; stderr so far: ${err}`);
  };
  return { name, process: child, stdout: () => out, stderr: () => err, exited, waitForOutput };
}

/** A private redis-server. */
export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  child: Child;
}

/** Options of {@link ProcessGroup.startRedis}. */
export interface RedisProcessOptions {
  /** Extra `--name value` arguments, e.g. `['--appendonly', 'no']`; default the durable settings. */
  args?: string[];
  /** Reuse this port (a restart). */
  port?: number;
  /** Reuse this directory (a restart keeps its AOF). */
  dir?: string;
}

/** The durable settings the issue asks of a Redis that holds jobs. */
export const DURABLE_REDIS_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'];

/** Processes started by a test, killed together at the end. */
export class ProcessGroup {
  private readonly children: Child[] = [];
  private readonly dirs: string[] = [];

  /** Starts redis-server on a free port in its own directory, durable by default; resolves once it accepts connections. */
  async startRedis(options: RedisProcessOptions = {}): Promise<RedisProcess> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? (await this.tempDir('redis'));
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...(options.args ?? DURABLE_REDIS_ARGS)];
    const child = this.track(startChild(`redis-server:${port}`, 'redis-server', args, cleanEnv()));
    await child.waitForOutput(/Ready to accept connections/, 15_000);
    return { port, url: `redis://127.0.0.1:${port}`, dir, child };
  }

  /** Starts `understudy <args>` (bin/understudy.js) with `env` on top of a clean environment. */
  understudy(name: string, args: string[], env: Record<string, string> = {}): Child {
    return this.track(startChild(name, process.execPath, ['bin/understudy.js', ...args], cleanEnv(env)));
  }

  /** Starts a gateway (`serve --port 0 ...`); resolves with it and its URL once it listens. */
  async gateway(name: string, args: string[], env: Record<string, string> = {}): Promise<{ child: Child; url: string }> {
    const child = this.understudy(name, ['serve', '--port', '0', ...args], env);
    const url = await child.waitForOutput(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    return { child, url };
  }

  /** Starts a worker (`worker ...`); resolves once it runs. */
  async worker(name: string, args: string[], env: Record<string, string> = {}): Promise<Child> {
    const child = this.understudy(name, ['worker', ...args], env);
    await child.waitForOutput(/Understudy worker \S+ running/);
    return child;
  }

  /** A temporary directory removed by {@link killAll}. */
  async tempDir(label: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `understudy-${label}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** SIGKILLs every process still running, waits for each to exit, and removes the temporary directories. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
        await child.exited;
      }),
    );
    await Promise.all(this.dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }

  private track(child: Child): Child {
    this.children.push(child);
    return child;
  }
}
