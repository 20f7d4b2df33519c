/** How one change of a batch fared: its value, or the error that refused it alone. */
export type BatchOutcome<O> = { value: O } | { error: unknown };

/** Runs `fn`, catching what it throws as the outcome. */
export function attempt<O>(fn: () => O): BatchOutcome<O> {
  try {
    return { value: fn() };
  } catch (error) {
    return { error };
  }
}

interface Pending<I> {
  item: I;
  resolve: (out: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Changes waiting to be committed together, and acknowledged only once durable: a pipelined group commit. Whoever
 * commits next takes every change pending (see {@link BatchedWrites.take}); once that commit is done, the changes
 * wait for `durable()`, called after it, while later changes commit. So a commit never waits for a sync, a sync
 * never waits for a commit, and no change is acknowledged before a sync that covers it.
 */
export class BatchedWrites<I> {
  private pending: Array<Pending<I>> = [];
  private readonly settling = new Set<Promise<void>>();

  /** @param durable resolves once everything committed before the call is on stable storage. */
  constructor(private readonly durable: () => Promise<void>) {}

  /** How many changes wait to be committed. */
  get waiting(): number {
    return this.pending.length;
  }

  /** Adds a change; resolves with its value once it is committed and durable. */
  add<O>(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve: resolve as (out: unknown) => void, reject });
    });
  }

  /**
   * Takes the first `count` pending changes (default all), to be committed now; settle the batch with
   * {@link BatchedWrites.committed} or {@link BatchedWrites.failed}.
   */
  take(count = this.pending.length): Array<Pending<I>> {
    return this.pending.splice(0, count);
  }

  /** The batch committed with these outcomes (in order): each change settles after a sync that starts now. */
  committed(batch: Array<Pending<I>>, outcomes: ReadonlyArray<BatchOutcome<unknown>>): void {
    if (batch.length === 0) return;
    const settled = this.settle(batch, outcomes).finally(() => this.settling.delete(settled));
    this.settling.add(settled);
  }

  /** The batch's commit failed: every change in it is refused with the error. */
  failed(batch: Array<Pending<I>>, error: unknown): void {
    for (const { reject } of batch) reject(error);
  }

  /** Resolves once every committed change has settled. */
  async drained(): Promise<void> {
    while (this.settling.size > 0) await Promise.all(this.settling);
  }

  private async settle(batch: Array<Pending<I>>, outcomes: ReadonlyArray<BatchOutcome<unknown>>): Promise<void> {
    let syncError: { error: unknown } | undefined;
    if (outcomes.some((o) => 'value' in o)) await this.durable().catch((error: unknown) => (syncError = { error }));
    outcomes.forEach((outcome, i) => {
      const waiter = batch[i];
      if (!waiter) return;
      if ('error' in outcome) waiter.reject(outcome.error);
      else if (syncError) waiter.reject(syncError.error);
      else waiter.resolve(outcome.value);
    });
  }
}
