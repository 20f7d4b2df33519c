/**
 * A server process Understudy starts and restarts itself (ComfyUI's `python main.py …`), for when it is allowed to
 * manage ComfyUI: restart it after a crash, relaunch it with `--lowvram`.
 *
 * - Started in a process group of its own, so stopping it stops wrapper scripts and their children too; stopped
 *   with SIGTERM, then SIGKILL when it has not exited after `stopMs`. Killed when Understudy's process exits.
 * - Ready when `isReady` says so, asked at once, on every line the process prints, and every `pollMs`; fails when
 *   the process exits first or is not ready within `startupMs`, with its last lines of output.
 * - Refuses to start when something already answers at its address (a leftover server would hide a failed start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EventEmitter, type Event } from 'cockatiel';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { BackendError } from '../../runtime/backend.js';
import { sleep } from '../../core/clock.js';
import { formatMs } from './comfyui-errors.js';

/** Lines of output kept for error messages. */
const KEPT_OUTPUT_LINES = 20;

/** How to run and supervise the process. */
export interface ManagedProcessOptions {
  /** Names the process in errors, e.g. `ComfyUI (python main.py)`. */
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  /** Added to Understudy's environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly clock: Clock;
  /** Longest wait for readiness after launch, ms. */
  readonly startupMs: number;
  /** Wait after SIGTERM before SIGKILL, ms. */
  readonly stopMs: number;
  /** Between readiness checks, ms. */
  readonly pollMs: number;
  /**
   * The command line of a launch from the configured `args` and a launch's `extraArgs`. Default `[...args, ...extraArgs]`;
   * ComfyUI's drops configured flags the extra ones conflict with (see launch-args.ts).
   */
  readonly combineArgs?: (args: readonly string[], extraArgs: readonly string[]) => string[];
  /** Resolves true once the process serves requests; a rejection counts as "not yet". */
  readonly isReady: (signal: AbortSignal) => Promise<boolean>;
}

/** How the process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when {@link ManagedProcess.stop} ended it. */
  readonly requested: boolean;
  /** Clock time of the exit. */
  readonly at: number;
}

/** What the process goes through. */
export type ManagedProcessEvent =
  | { readonly type: 'started'; readonly pid: number; readonly args: readonly string[] }
  | { readonly type: 'ready'; readonly pid: number }
  /** A line the process printed (stdout or stderr), e.g. to forward ComfyUI's log. */
  | { readonly type: 'output'; readonly pid: number; readonly line: string }
  | { readonly type: 'exited'; readonly pid: number; readonly exit: ProcessExit };

/** A process started, watched, stopped and relaunched by Understudy. */
export class ManagedProcess {
  private readonly events = new EventEmitter<ManagedProcessEvent>();
  /** Starts, readiness, output lines and exits. */
  readonly onEvent: Event<ManagedProcessEvent> = this.events.addListener;
  private child: ChildProcess | undefined;
  private exited: Promise<ProcessExit> | undefined;
  private stopping = false;
  private exit: ProcessExit | undefined;
  private launchArgs: readonly string[] = [];
  private readonly output: string[] = [];
  private readonly outputListeners = new Set<() => void>();
  private readonly killOnExit = (): void => this.signalGroup('SIGKILL');

  constructor(private readonly options: ManagedProcessOptions) {}

  /** Whether the process runs (started and not exited). */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How it last ended, if it has. */
  get lastExit(): ProcessExit | undefined {
    return this.exit;
  }

  /** Arguments of the current or last launch, after the configured ones. */
  get extraArgs(): readonly string[] {
    return this.launchArgs;
  }

  /** The last lines it printed (stdout and stderr). */
  get recentOutput(): readonly string[] {
    return this.output;
  }

  /** `process exited with code 1` / `process was killed by signal SIGKILL`, for messages. */
  describeExit(exit: ProcessExit): string {
    return exit.signal !== null ? `${this.options.label} was killed by signal ${exit.signal}` : `${this.options.label} exited with code ${exit.code}`;
  }

  /** Launches the process with the configured arguments plus `extraArgs` and waits until it is ready. */
  async start(extraArgs: readonly string[], signal: AbortSignal): Promise<void> {
    const { label, command, args, cwd, env, isReady, combineArgs } = this.options;
    if (this.child) throw new BackendError(`${label} is already running (pid ${this.child.pid})`, { code: 'ALREADY_RUNNING' });
    if (signal.aborted) throw signal.reason;
    if (await isReady(signal).catch(() => false)) {
      throw new BackendError(`cannot start ${label}: something already answers at its address; stop it or give Understudy's ComfyUI another port`, {
        code: 'EADDRINUSE',
      });
    }
    this.launchArgs = [...extraArgs];
    this.output.length = 0;
    const argv = combineArgs ? combineArgs(args, extraArgs) : [...args, ...extraArgs];
    const child = spawn(command, argv, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    this.exited = this.watch(child);
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (spawned) {
      // "spawn python ENOENT": the classifier reads it as a missing pipeline binary.
      throw new BackendError(`cannot start ${label}: ${spawned.message}`, { code: (spawned as NodeJS.ErrnoException).code ?? 'SPAWN_FAILED', cause: spawned });
    }
    this.child = child;
    process.once('exit', this.killOnExit);
    this.events.emit({ type: 'started', pid: child.pid ?? -1, args: argv });
    try {
      await this.waitUntilReady(signal);
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.events.emit({ type: 'ready', pid: child.pid ?? -1 });
  }

  /** Stops the process: SIGTERM to its group, SIGKILL after `stopMs`. Resolves once it has exited. */
  async stop(): Promise<void> {
    const { child, exited } = this;
    if (!child || !exited) return;
    this.stopping = true;
    this.signalGroup('SIGTERM');
    const cancelWait = new AbortController();
    const waited = await Promise.race([exited.then(() => 'exited' as const), sleep(this.options.clock, this.options.stopMs, cancelWait.signal).then(() => 'timeout' as const)]);
    cancelWait.abort();
    if (waited === 'timeout') this.signalGroup('SIGKILL');
    await exited;
  }

  /** Stops the process if it runs, then starts it with `extraArgs`. */
  async restart(extraArgs: readonly string[], signal: AbortSignal): Promise<void> {
    await this.stop();
    await this.start(extraArgs, signal);
  }

  private watch(child: ChildProcess): Promise<ProcessExit> {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.output.push(line);
        if (this.output.length > KEPT_OUTPUT_LINES) this.output.shift();
        for (const listener of this.outputListeners) listener();
        this.events.emit({ type: 'output', pid: child.pid ?? -1, line });
      });
    }
    return new Promise<ProcessExit>((resolve) => {
      child.once('close', (code, signal) => {
        const exit: ProcessExit = { code, signal, requested: this.stopping, at: this.options.clock.now() };
        this.exit = exit;
        this.stopping = false;
        if (this.child === child) {
          this.child = undefined;
          process.off('exit', this.killOnExit);
          this.events.emit({ type: 'exited', pid: child.pid ?? -1, exit });
        }
        resolve(exit);
      });
    });
  }

  /** Waits until ready, exited, timed out or aborted, whichever comes first. */
  private waitUntilReady(signal: AbortSignal): Promise<void> {
    const { clock, startupMs, pollMs, isReady, label } = this.options;
    const exited = this.exited;
    return new Promise<void>((resolve, reject) => {
      const probes = new AbortController();
      let probing = false;
      let again = false;
      let done = false;
      let pollTimer: TimerHandle | undefined;
      const finish = (error?: Error): void => {
        if (done) return;
        done = true;
        clock.clearTimeout(deadline);
        if (pollTimer) clock.clearTimeout(pollTimer);
        signal.removeEventListener('abort', onAbort);
        this.outputListeners.delete(probe);
        probes.abort();
        if (error) reject(error);
        else resolve();
      };
      const probe = (): void => {
        if (done) return;
        if (probing) {
          again = true;
          return;
        }
        probing = true;
        void (async () => {
          do {
            again = false;
            if (await isReady(probes.signal).catch(() => false)) finish();
          } while (again && !done);
          probing = false;
        })();
      };
      const poll = (): void => {
        probe();
        if (!done) pollTimer = clock.setTimeout(poll, pollMs);
      };
      const onAbort = (): void => finish(signal.reason as Error);
      const deadline = clock.setTimeout(
        () => finish(new BackendError(`${label} did not become ready within ${formatMs(startupMs)} of its launch${this.lastLines()}`, { code: 'STARTUP_TIMEOUT' })),
        startupMs,
      );
      void exited?.then((exit) => {
        const message = `${this.describeExit(exit)} while starting${this.lastLines()}`;
        finish(new BackendError(message, { code: 'PIPELINE_EXITED', ...(exit.code !== null && { exitCode: exit.code }), ...(exit.signal !== null && { signal: exit.signal }) }));
      });
      signal.addEventListener('abort', onAbort, { once: true });
      this.outputListeners.add(probe);
      poll();
    });
  }

  private lastLines(): string {
    const lines = this.output.slice(-5);
    return lines.length > 0 ? `; last output: ${lines.join(' | ')}` : '';
  }

  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      if (process.platform === 'win32') this.child?.kill(signal);
      else process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }
}
