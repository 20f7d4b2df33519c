import type { Clock, TimerHandle } from '../core/clock.js';

/** Thrown into a generation that made no progress for too long: its backend is presumed hung. */
export class GenerationStalledError extends Error {
  override readonly name = 'GenerationStalledError';

  constructor(readonly stalledMs: number) {
    super(`generation stalled: no progress for ${Math.round(stalledMs / 1000)} s; the pipeline is presumed hung`);
  }
}

/** Type guard for {@link GenerationStalledError}. */
export function isGenerationStalledError(error: unknown): error is GenerationStalledError {
  return error instanceof GenerationStalledError;
}

/**
 * Aborts `signal`'s controller with a {@link GenerationStalledError} once `stallMs` pass on the clock without a
 * {@link StallWatchdog.kick}: a hung generation would otherwise hold its slot (and its renewed lease) for ever.
 */
export class StallWatchdog {
  private readonly controller = new AbortController();
  private timer: TimerHandle | undefined;
  private stopped = false;

  /** Aborted when the generation stalls. */
  readonly signal: AbortSignal;

  constructor(
    private readonly clock: Clock,
    private readonly stallMs: number,
  ) {
    this.signal = this.controller.signal;
    this.kick();
  }

  /** Progress was made: the stall clock starts again. */
  kick(): void {
    if (this.stopped) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.controller.abort(new GenerationStalledError(this.stallMs)), this.stallMs);
  }

  /** The generation ended: no more timer. */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
  }
}
