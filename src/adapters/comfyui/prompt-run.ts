// Over 400 lines for one reason: one prompt's life on ComfyUI (socket, status checks, outcome from /history) is one sequence that reads best in one place.
/**
 * One prompt on ComfyUI, from submission to its outputs: open `/ws` with a client id of its own, POST /prompt with
 * that client id, then follow the messages ComfyUI sends that client (status while queued, execution_start,
 * execution_cached, executing, progress, executed, execution_success, and `executing` with `node: null` at the end,
 * or execution_error / execution_interrupted) and read the outputs from /history.
 *
 * - A dropped socket is reopened with the same client id (the first try at once, then with doubling waits on the
 *   clock); ComfyUI then resumes the stream, and /history and /queue tell what was missed while it was down.
 * - A socket can also go silent without closing: on a reconnect, ComfyUI's handler of the old socket pops the client
 *   id whatever socket it holds (server.py `finally: self.sockets.pop(sid)`), so the new socket may get nothing more.
 *   After `statusCheckMs` without a message, and every `statusCheckMs` while the silence lasts, /history and /queue
 *   are asked how the prompt is doing.
 * - The outcome is what /history recorded (`status.messages`), so a missed `execution_error` still fails the run with
 *   ComfyUI's error rather than as "no output".
 * - Cancelling (the signal), a queue wait or a run longer than its limit withdraws the prompt: it is deleted from the
 *   queue and, when it is the one running, interrupted (POST /interrupt with its prompt_id).
 * - Progress: see prompt-progress.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { BackendError } from '../../runtime/backend.js';
import { sleep } from '../../core/clock.js';
import type { ComfyUiClient, ComfyUiSocket, ComfyUiSocketEvent, HistoryEntry } from './comfyui-client.js';
import { ComfyUiExecutionError, formatMs, type ExecutionErrorReport } from './comfyui-errors.js';
import { outputFiles, type ComfyUiMessage, type OutputFile } from './comfyui-messages.js';
import { PromptProgress } from './prompt-progress.js';
import type { ApiWorkflow } from './workflow-template.js';


/** What one prompt run needs. */
export interface PromptRunOptions {
  readonly client: ComfyUiClient;
  readonly clock: Clock;
  readonly workflow: ApiWorkflow;
  /** Longest wait in ComfyUI's queue, ms. */
  readonly queueTimeoutMs: number;
  /** Longest run once started, ms. */
  readonly executionTimeoutMs: number;
  /** Silence on the socket after which, and period at which, /history and /queue are asked, ms. */
  readonly statusCheckMs: number;
  readonly reconnect: { readonly attempts: number; readonly initialDelayMs: number };
  /**
   * Whether POST /interrupt `{prompt_id}` stops only that prompt (ComfyUI 0.3.57 and later). When false, an interrupt
   * is sent only when a fresh GET /queue shows this prompt running, never on what the socket last said.
   */
  readonly targetedInterrupt: boolean;
  /** Aborting cancels the prompt; the run then rejects with the signal's reason. */
  readonly signal: AbortSignal;
  readonly onProgress: (fraction: number, message: string) => void;
  /** Called once, at the first sampling step, with the milliseconds since the prompt started (loading and encoding). */
  readonly onSamplingStarted?: (msSinceStart: number) => void;
}

/** A prompt ComfyUI ran to the end. */
export interface PromptResult {
  readonly promptId: string;
  /** Files the output nodes saved, in node order. */
  readonly files: readonly OutputFile[];
}

/** Runs one prompt on ComfyUI; resolves with its output files or rejects with why it failed. */
export function runPrompt(options: PromptRunOptions): Promise<PromptResult> {
  return new PromptRun(options).run();
}

type Phase = 'submitting' | 'queued' | 'running';

class PromptRun {
  private readonly clientId = `understudy-${randomUUID()}`;
  /** The id asked for in POST /prompt; servers that choose their own ids answer with another. */
  private readonly requestedId = randomUUID();
  private promptId: string | undefined;
  private phase: Phase = 'submitting';
  private socket: ComfyUiSocket | undefined;
  /** Messages that arrived before POST /prompt answered. */
  private readonly early: ComfyUiMessage[] = [];
  private readonly progress: PromptProgress;
  private readonly savedFiles = new Map<string, OutputFile[]>();
  private startedAt: number | undefined;
  private samplingReported = false;
  private timer: TimerHandle | undefined;
  /** Fires after `statusCheckMs` without a message. */
  private silenceTimer: TimerHandle | undefined;
  /** No message since the last silence check. */
  private silent = false;
  private reconnecting = false;
  /** execution_success arrived: the outcome is known once /history has the prompt. */
  private succeeded = false;
  /** Aborted when run() returns: stops reconnection waits that outlive the run. */
  private readonly ended = new AbortController();
  /** ComfyUI has finished with the prompt (success, error or interruption): nothing to withdraw. */
  private serverFinished = false;
  private history: HistoryEntry | null = null;
  /** POST /prompt was sent: from then on the server may hold the prompt. */
  private submitSent = false;
  private settled = false;
  private settle!: (error?: Error) => void;
  /** Settles when the run's outcome is known; may settle before run() awaits it, hence the handler below. */
  private readonly finished = new Promise<void>((resolve, reject) => {
    this.settle = (error) => {
      if (this.settled) return;
      this.settled = true;
      if (error) reject(error);
      else resolve();
    };
  });

  constructor(private readonly options: PromptRunOptions) {
    this.finished.catch(() => undefined);
    this.progress = new PromptProgress(options.workflow);
  }

  async run(): Promise<PromptResult> {
    const { client, signal, workflow } = this.options;
    if (signal.aborted) throw signal.reason;
    const onAbort = (): void => this.settle(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.attach(await client.openSocket(this.clientId, signal));
      this.submitSent = true;
      const submitted = await client.submitPrompt(workflow, this.clientId, this.requestedId, signal);
      this.promptId = submitted.promptId;
      this.enterQueue();
      this.watchSilence();
      for (const message of this.early.splice(0)) this.handle(message);
      await this.finished;
      return { promptId: submitted.promptId, files: await this.collectFiles(submitted.promptId) };
    } catch (error) {
      // A cancelled submission may have reached the server under the id asked for; a rejected one queued nothing.
      if (this.promptId !== undefined || (this.submitSent && signal.aborted)) await this.withdraw();
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.settled = true;
      this.ended.abort();
      this.clearTimer();
      if (this.silenceTimer) this.options.clock.clearTimeout(this.silenceTimer);
      this.socket?.close();
    }
  }

  private attach(socket: ComfyUiSocket): void {
    this.socket = socket;
    socket.onEvent((event) => this.onSocketEvent(event));
  }

  private onSocketEvent(event: ComfyUiSocketEvent): void {
    if (this.settled) return;
    if (event.kind === 'message') {
      this.silent = false;
      this.watchSilence();
      this.handle(event.message);
    } else void this.reconnect(event.error);
  }

  /** (Re)starts the silence timer: when no message comes for `statusCheckMs`, /history and /queue are asked. */
  private watchSilence(): void {
    const { clock, statusCheckMs } = this.options;
    if (this.silenceTimer) clock.clearTimeout(this.silenceTimer);
    if (this.settled || this.promptId === undefined) return;
    this.silenceTimer = clock.setTimeout(() => void this.checkAfterSilence(), statusCheckMs);
  }

  private async checkAfterSilence(): Promise<void> {
    this.silenceTimer = undefined;
    if (this.settled) return;
    if (!this.reconnecting) {
      // Said once per silence: a long model load is quiet too.
      if (!this.silent) this.report(`no message from ComfyUI for ${formatMs(this.options.statusCheckMs)}; asking /history and /queue about the prompt`);
      this.silent = true;
      await this.catchUp().catch(() => undefined);
    }
    if (!this.silenceTimer) this.watchSilence();
  }

  private handle(message: ComfyUiMessage): void {
    if (this.settled) return;
    if (this.promptId === undefined) {
      this.early.push(message);
      return;
    }
    if (message.type === 'status') {
      if (this.phase === 'queued') this.report(`queued on ComfyUI (${message.data.status.exec_info.queue_remaining} prompt(s) in its queue)`);
      // ComfyUI records the prompt in /history, then announces the queue change: the record is there now.
      if (this.succeeded) void this.finishIfRecorded();
      return;
    }
    // Messages without a prompt_id come from servers that predate it; this socket's client id is this prompt's alone.
    if (message.data.prompt_id !== undefined && message.data.prompt_id !== this.promptId) return;
    switch (message.type) {
      case 'execution_start':
        this.enterRunning();
        this.report('ComfyUI started the prompt');
        return;
      case 'execution_cached':
        this.enterRunning();
        this.progress.cached(message.data.nodes);
        return;
      case 'executing':
        this.enterRunning();
        if (message.data.node === null) {
          this.serverFinished = true;
          this.progress.executed();
          this.settle();
          return;
        }
        this.progress.started(message.data.node);
        this.report(`running node ${message.data.node} (${this.progress.classOf(message.data.node)})`);
        return;
      case 'progress':
        this.onStep(message.data.node ?? this.progress.currentNode, message.data.value, message.data.max);
        return;
      case 'executed':
        this.savedFiles.set(message.data.node, outputFiles(message.data.output));
        return;
      case 'execution_success':
        this.succeeded = true;
        this.report('ComfyUI finished the prompt');
        return;
      case 'execution_error':
        this.serverFinished = true;
        this.settle(new ComfyUiExecutionError(this.options.client.label, message.data));
        return;
      case 'execution_interrupted':
        this.serverFinished = true;
        this.settle(this.interrupted(message.data.node_id, message.data.node_type));
        return;
    }
  }

  private onStep(node: string | undefined, value: number, max: number): void {
    this.enterRunning();
    if (node === undefined || !this.progress.step(node, value, max)) return;
    if (!this.samplingReported && this.startedAt !== undefined) {
      this.samplingReported = true;
      this.options.onSamplingStarted?.(this.options.clock.now() - this.startedAt);
    }
    this.report(`sampling step ${value}/${max} (node ${node} ${this.progress.classOf(node)})`);
  }

  private report(message: string): void {
    this.options.onProgress(this.progress.fraction, message);
  }

  private enterQueue(): void {
    this.phase = 'queued';
    const { queueTimeoutMs } = this.options;
    this.startTimer(queueTimeoutMs, () => {
      const message = `${this.options.client.label}: prompt ${this.promptId} waited more than ${formatMs(queueTimeoutMs)} in the queue without starting; it was removed from the queue`;
      return new BackendError(message, { code: 'ETIMEDOUT' });
    });
    this.report('queued on ComfyUI');
  }

  private enterRunning(): void {
    if (this.phase === 'running') return;
    this.phase = 'running';
    this.startedAt = this.options.clock.now();
    const { executionTimeoutMs } = this.options;
    this.startTimer(executionTimeoutMs, () => {
      const message = `${this.options.client.label}: prompt ${this.promptId} ran for more than ${formatMs(executionTimeoutMs)} without finishing; it was interrupted`;
      return new BackendError(message, { code: 'EXECUTION_TIMEOUT' });
    });
  }

  private startTimer(ms: number, error: () => Error): void {
    this.clearTimer();
    this.timer = this.options.clock.setTimeout(() => this.settle(error()), ms);
  }

  private clearTimer(): void {
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private interrupted(nodeId: string | undefined, nodeType: string | undefined): Error {
    const { signal, client } = this.options;
    if (signal.aborted) return signal.reason as Error;
    const where = nodeId === undefined ? '' : ` at node ${nodeId}${nodeType ? ` (${nodeType})` : ''}`;
    return new BackendError(`${client.label}: prompt ${this.promptId} was interrupted${where} by someone other than Understudy`, { code: 'INTERRUPTED' });
  }

  /**
   * After execution_success: finishes from /history when it has the prompt. Servers end a prompt with `executing`
   * `node: null`; this also ends it on servers that leave that message out.
   */
  private async finishIfRecorded(): Promise<void> {
    const { client, signal } = this.options;
    if (this.promptId === undefined) return;
    const entry = await client.history(this.promptId, signal).catch(() => null);
    if (entry && !this.settled) this.finishFromHistory(entry);
  }

  /** Reopens the socket after it dropped, then catches up on what was missed; fails the run when every try fails. */
  private async reconnect(lost: BackendError): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const { client, clock, reconnect } = this.options;
    const signal = AbortSignal.any([this.options.signal, this.ended.signal]);
    let lastError: Error = lost;
    try {
      for (let attempt = 1; attempt <= reconnect.attempts && !this.settled; attempt++) {
        try {
          if (attempt > 1) await sleep(clock, reconnect.initialDelayMs * 2 ** (attempt - 2), signal);
          const socket = await client.openSocket(this.clientId, signal);
          if (this.settled) {
            socket.close();
            return;
          }
          this.report('reconnected to ComfyUI');
          this.attach(socket);
          await this.catchUp();
          return;
        } catch (error) {
          if (signal.aborted || this.settled) return;
          lastError = error as Error;
        }
      }
      const code = lastError instanceof BackendError ? lastError.code : 'ECONNRESET';
      this.settle(
        new BackendError(
          `${client.label}: the WebSocket dropped while prompt ${this.promptId ?? this.requestedId} was ${this.phase} and ${reconnect.attempts} reconnection tries failed (last: ${lastError.message})`,
          { code, cause: lost },
        ),
      );
    } finally {
      this.reconnecting = false;
    }
  }

  /** After a reconnect: the prompt may have finished (its /history entry says how), still be queued or running, or be lost. */
  private async catchUp(): Promise<void> {
    const promptId = this.promptId;
    if (promptId === undefined) return;
    const { client, signal } = this.options;
    for (let look = 0; look < 2 && !this.settled; look++) {
      const entry = await client.history(promptId, signal);
      if (this.settled) return;
      if (entry) {
        this.finishFromHistory(entry);
        return;
      }
      const queue = await client.queue(signal);
      if (this.settled) return;
      if (queue.running.includes(promptId)) {
        this.enterRunning();
        return;
      }
      if (queue.pending.includes(promptId)) return;
      // Neither queued nor running: it may have finished between the two requests, so look at /history once more.
    }
    if (this.settled) return;
    this.serverFinished = true;
    this.settle(
      new BackendError(`${client.label} no longer knows prompt ${promptId} (not queued, not running, no history): the server was probably restarted`, {
        code: 'PROMPT_LOST',
      }),
    );
  }

  private finishFromHistory(entry: HistoryEntry): void {
    this.serverFinished = true;
    this.history = entry;
    const failure = this.failureIn(entry);
    if (failure) {
      this.settle(failure);
      return;
    }
    this.progress.executed();
    this.settle();
  }

  /** How a recorded prompt failed (its execution_error or execution_interrupted), or undefined when it did not. */
  private failureIn(entry: HistoryEntry): Error | undefined {
    const messages = entry.status?.messages ?? [];
    const error = messages.find(([type]) => type === 'execution_error');
    if (error) return new ComfyUiExecutionError(this.options.client.label, (error[1] ?? {}) as ExecutionErrorReport);
    const interruption = messages.find(([type]) => type === 'execution_interrupted');
    if (interruption) {
      const data = (interruption[1] ?? {}) as { node_id?: string; node_type?: string };
      return this.interrupted(data.node_id, data.node_type);
    }
    if (entry.status?.status_str === 'error') {
      return new BackendError(`${this.options.client.label} recorded prompt ${this.promptId} as failed (status "error") without saying why`, { code: 'COMFYUI_EXECUTION_ERROR' });
    }
    return undefined;
  }

  /**
   * The saved files: from /history (the record ComfyUI keeps), else from the `executed` messages. Throws how the
   * prompt failed when /history says it did (its error frame was missed on the socket).
   */
  private async collectFiles(promptId: string): Promise<OutputFile[]> {
    const entry = this.history ?? (await this.options.client.history(promptId, this.options.signal));
    const failure = entry ? this.failureIn(entry) : undefined;
    if (failure) throw failure;
    const byNode = entry ? Object.entries(entry.outputs).map(([node, output]) => [node, outputFiles(output)] as const) : [...this.savedFiles];
    return byNode.flatMap(([, files]) => files);
  }

  /** Best effort: takes a prompt that will not be followed any more off the server (queue, then interrupt if running). */
  private async withdraw(): Promise<void> {
    if (this.serverFinished) return;
    const { client } = this.options;
    const promptId = this.promptId ?? this.requestedId;
    // The run's own signal may be the one that aborted; these requests are bounded by the client's time limit.
    const signal = new AbortController().signal;
    try {
      await client.deleteFromQueue([promptId], signal);
      // An older ComfyUI interrupts whatever runs: only a fresh look at the queue may decide it.
      const trustPhase = this.options.targetedInterrupt && this.phase === 'running';
      const running = trustPhase || (await client.queue(signal)).running.includes(promptId);
      if (running) await client.interrupt(promptId, signal);
    } catch {
      // The server is unreachable or broken; there is nothing more to withdraw from it.
    }
  }
}
