/**
 * One request's undici dispatch handler: resolves the response head, then hands each body chunk straight to a sink as
 * undici parses it, with no stream in between. A chunk is a view into the bytes undici read from the socket, so a
 * sink copies what it keeps before returning; the socket's buffer is then garbage at once, which keeps collection
 * cheap at hundreds of megabytes per second.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

/** How a sink steers the body it receives. */
export interface BodyFlow {
  /** Stops the chunks until {@link resume} (undici stops reading the socket). */
  pause(): void;
  resume(): void;
  /** Ends the request with `error`; the body's {@link ResponseBody.pipeTo} rejects with it. */
  abort(error: Error): void;
}

/** Where a body's chunks go. */
export interface BodySink {
  /** Called once, before the first chunk. */
  start(flow: BodyFlow): void;
  /** Takes one chunk, which is valid only during the call. */
  write(chunk: Buffer): void;
  /** The body is complete; resolves when the sink is done with it. */
  end(): Promise<void>;
  /** The body failed with `error` (the connection broke, the request was aborted); resolves when the sink has settled. */
  fail(error: Error): Promise<void>;
}

/** A response body, delivered once to a sink. */
export interface ResponseBody {
  /** Delivers the body to `sink`; resolves once it ended and the sink is done, rejects with the body's error. */
  pipeTo(sink: BodySink): Promise<void>;
  /** Drops the body: reads a short one to its end, so the connection serves the next request; cuts a long one off. */
  dump(): Promise<void>;
}

/** A response's status line and headers, with its body still to read. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
}

/** Bytes {@link ResponseBody.dump} reads before it closes the connection instead (undici's own `dump` limit). */
const DUMP_LIMIT_BYTES = 128 * 1024;

/**
 * Sends one request through `dispatcher` and resolves to its head once the status and headers are in (informational
 * 1xx answers are skipped); rejects with undici's error, or the signal's reason once it aborts. The body waits,
 * paused, until it is piped or dumped.
 */
export function dispatchRequest(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: AbortSignal): Promise<ResponseHead> {
  const handler = new ResponseHandler(signal);
  dispatcher.dispatch(options, handler);
  return handler.head;
}

class ResponseHandler implements Dispatcher.DispatchHandler, ResponseBody {
  readonly head: Promise<ResponseHead>;
  private resolveHead!: (head: ResponseHead) => void;
  private rejectHead!: (error: Error) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private headDone = false;
  private sink: BodySink | undefined;
  /**
   * Copies of chunks that came before a sink did. undici honours the pause asked for with the head, except behind
   * its http (non-tunnel) proxy wrapper, which drops the answer of the head callback.
   */
  private early: Buffer[] | undefined;
  /** Set once the body ended or failed, for a sink that comes after. */
  private outcome: { error?: Error } | undefined;
  private settle: ((outcome: { error?: Error }) => void) | undefined;
  /** A sink's own reason to abort, which wins over the error undici reports for it. */
  private sinkError: Error | undefined;

  constructor(private readonly signal: AbortSignal) {
    this.head = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal.aborted) controller.abort(this.signal.reason as Error);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.headDone = true;
    // No chunk until someone takes the body.
    controller.pause();
    this.resolveHead({ status: statusCode, headers, body: this });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.sink) this.sink.write(chunk);
    else (this.early ??= []).push(Buffer.from(chunk));
  }

  onResponseEnd(): void {
    this.finish({});
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const reason = this.sinkError ?? (this.signal.aborted ? (this.signal.reason as Error) : error);
    if (!this.headDone) {
      this.signal.removeEventListener('abort', this.onAbort);
      this.rejectHead(reason);
      return;
    }
    this.finish({ error: reason });
  }

  pipeTo(sink: BodySink): Promise<void> {
    if (this.sink) return Promise.reject(new Error('the body is already being read'));
    this.sink = sink;
    const ended = new Promise<{ error?: Error }>((resolve) => (this.settle = resolve));
    const controller = this.controller as Dispatcher.DispatchController;
    sink.start({
      pause: () => controller.pause(),
      resume: () => controller.resume(),
      abort: (error) => {
        this.sinkError ??= error;
        controller.abort(error);
      },
    });
    for (const chunk of this.early ?? []) sink.write(chunk);
    this.early = undefined;
    if (this.outcome) this.settle?.(this.outcome);
    else controller.resume();
    return ended.then(async ({ error }) => {
      if (error) {
        await sink.fail(error);
        throw error;
      }
      await sink.end();
    });
  }

  async dump(): Promise<void> {
    let bytes = 0;
    let flow: BodyFlow | undefined;
    await this.pipeTo({
      start: (given) => (flow = given),
      write: (chunk) => {
        bytes += chunk.length;
        if (bytes > DUMP_LIMIT_BYTES) flow?.abort(new Error('a body too long to read through was cut off'));
      },
      end: () => Promise.resolve(),
      fail: () => Promise.resolve(),
    }).catch(() => undefined);
  }

  private finish(outcome: { error?: Error }): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.outcome = outcome;
    this.settle?.(outcome);
  }

  /** Aborts the request under way; one not started yet rejects at once, and is aborted when undici starts it. */
  private readonly onAbort = (): void => {
    if (this.controller) this.controller.abort(this.signal.reason as Error);
    else this.rejectHead(this.signal.reason as Error);
  };
}
