/**
 * A ComfyUI that Understudy launches itself (config `launch`): the process, its offload mode and VRAM optimisation
 * flags, and relaunches with them, one process operation at a time (a restart never overlaps a relaunch).
 */
import PQueue from 'p-queue';
import type { Clock } from '../../core/clock.js';
import type { OffloadMode } from '../../core/recovery-policy.js';
import { BackendError, untilAborted, type PipelineState } from '../../runtime/backend.js';
import type { ComfyUiConfig } from './comfyui-config.js';
import { withLaunchFlags } from './launch-args.js';
import { ManagedProcess, type ProcessExit } from './managed-process.js';

/** What a launcher needs. */
export interface ComfyUiLauncherOptions {
  readonly launch: NonNullable<ComfyUiConfig['launch']>;
  readonly timeouts: ComfyUiConfig['timeouts'];
  /** Flags per offload mode (defaults with `launch.offloadArgs` applied). */
  readonly offloadArgs: Readonly<Record<OffloadMode, readonly string[]>>;
  readonly clock: Clock;
  /** Names the server in errors: `ComfyUI at http://…`. */
  readonly serverLabel: string;
  /** Resolves once the launched ComfyUI answers (GET /system_stats). */
  readonly isReady: (signal: AbortSignal) => Promise<boolean>;
  /** The process is running, crashed or being restarted, with why. */
  readonly onState: (state: PipelineState, detail: string) => void;
  /** The process exited (asked for or not): models it held are gone. */
  readonly onExit: (exit: ProcessExit) => void;
}

/** Starts, stops and relaunches one ComfyUI process. */
export class ComfyUiLauncher {
  readonly process: ManagedProcess;
  private readonly lock = new PQueue({ concurrency: 1 });
  private mode: OffloadMode = 'none';
  private optimized = false;
  /** Aborted when the process exits: prompts running then fail with why. */
  private life = new AbortController();

  constructor(private readonly options: ComfyUiLauncherOptions) {
    const { launch, timeouts } = options;
    this.process = new ManagedProcess({
      label: `ComfyUI process (${[launch.command, ...launch.args].join(' ')})`,
      command: launch.command,
      args: launch.args,
      ...(launch.cwd !== undefined && { cwd: launch.cwd }),
      env: launch.env,
      combineArgs: withLaunchFlags,
      clock: options.clock,
      startupMs: timeouts.startupMs,
      stopMs: timeouts.stopMs,
      pollMs: timeouts.pollMs,
      isReady: options.isReady,
    });
    this.process.onEvent((event) => {
      if (event.type === 'exited') this.onExit(event.exit);
    });
  }

  /** The offload mode of the running process (`none` until a relaunch sets one). */
  get offloadMode(): OffloadMode {
    return this.mode;
  }

  /** Whether the process runs with `launch.vramOptimizationArgs`. */
  get vramOptimized(): boolean {
    return this.optimized;
  }

  /** Aborted, with why, when the current process exits. */
  get lifeSignal(): AbortSignal {
    return this.life.signal;
  }

  /** Launches the process unless it runs; `check` then vets the server (a failed check stops it again). */
  start(signal: AbortSignal, check: () => void): Promise<void> {
    return this.exclusively(async () => {
      if (this.process.running) return;
      await this.launchNow(signal, 'started by Understudy');
      try {
        check();
      } catch (error) {
        await this.process.stop();
        throw error;
      }
    });
  }

  /** Stops the process (prompts running on it fail). */
  stop(): Promise<void> {
    return this.exclusively(() => this.process.stop());
  }

  /** Resolves once no process operation is under way (or rejects when `signal` aborts). */
  idle(signal: AbortSignal): Promise<void> {
    return untilAborted(this.lock.onIdle(), signal);
  }

  /** restart_pipeline: `beforeStop` (best effort) while it runs, then a stop and a launch with the current flags. */
  restart(signal: AbortSignal, beforeStop: () => Promise<void>): Promise<void> {
    return this.exclusively(async () => {
      if (this.process.running) await beforeStop().catch(() => undefined);
      await this.relaunch(signal, 'restart_pipeline');
    });
  }

  /** Relaunches with `mode`'s flags (nothing to do when it already runs in that mode). */
  setOffloadMode(mode: OffloadMode, signal: AbortSignal): Promise<void> {
    return this.exclusively(async () => {
      if (mode === this.mode && this.process.running) return;
      const previous = this.mode;
      this.mode = mode;
      try {
        await this.relaunch(signal, `offload mode ${mode}`);
      } catch (error) {
        this.mode = previous;
        throw error;
      }
    });
  }

  /** Relaunches with `launch.vramOptimizationArgs`; `id` names the backend in errors. */
  applyVramOptimization(signal: AbortSignal, id: string): Promise<void> {
    const flags = this.options.launch.vramOptimizationArgs;
    return this.exclusively(async () => {
      if (this.optimized) throw new BackendError(`${id} already runs ComfyUI with ${flags.join(' ')}; nothing more to apply`, { code: 'ALREADY_APPLIED' });
      this.optimized = true;
      try {
        await this.relaunch(signal, 'VRAM optimisation');
      } catch (error) {
        this.optimized = false;
        throw error;
      }
    });
  }

  /** Why the process is not there to run prompts, or undefined when it runs. */
  whyNotRunning(): string | undefined {
    if (this.process.running) return undefined;
    const exit = this.process.lastExit;
    return exit ? `${this.process.describeExit(exit)} and has not been restarted` : `${this.options.serverLabel} has not been started`;
  }

  /** Throws why the process does not run (with its exit code or signal), when it does not. */
  requireRunning(): void {
    if (this.process.running) return;
    const exit = this.process.lastExit;
    if (!exit) throw new BackendError(`${this.options.serverLabel} has not been started (call start())`, { code: 'NOT_STARTED' });
    throw new BackendError(`${this.process.describeExit(exit)} and has not been restarted`, {
      code: 'PIPELINE_EXITED',
      ...(exit.code !== null && { exitCode: exit.code }),
      ...(exit.signal !== null && { signal: exit.signal }),
    });
  }

  private onExit(exit: ProcessExit): void {
    this.options.onExit(exit);
    const reason = exit.requested
      ? new BackendError(`${this.options.serverLabel} was stopped by Understudy while the prompt ran`, { code: 'PIPELINE_STOPPED' })
      : new BackendError(this.process.describeExit(exit), {
          code: 'PIPELINE_EXITED',
          ...(exit.code !== null && { exitCode: exit.code }),
          ...(exit.signal !== null && { signal: exit.signal }),
        });
    this.life.abort(reason);
    if (!exit.requested) this.options.onState('crashed', this.process.describeExit(exit));
  }

  private async relaunch(signal: AbortSignal, why: string): Promise<void> {
    this.options.onState('restarting', `restarting ComfyUI (${why})`);
    await this.process.stop();
    await this.launchNow(signal, `restarted by Understudy (${why})`);
  }

  private async launchNow(signal: AbortSignal, detail: string): Promise<void> {
    this.life = new AbortController();
    const flags = [...this.options.offloadArgs[this.mode], ...(this.optimized ? this.options.launch.vramOptimizationArgs : [])];
    try {
      await this.process.start(flags, signal);
    } catch (error) {
      this.options.onState('crashed', (error as Error).message);
      throw error;
    }
    const shown = this.process.extraArgs.join(' ');
    this.options.onState('running', `${detail}${shown ? ` with ${shown}` : ''}`);
  }

  /** Runs process operations one at a time. */
  private exclusively<T>(task: () => Promise<T>): Promise<T> {
    return this.lock.add(task, { throwOnTimeout: true });
  }
}
