/** How one item of a batch fared: its value, or the error that refused it alone. */
export type BatchOutcome<O> = { value: O } | { error: unknown };

/**
 * Pipelined group commit of many callers' writes. Items are gathered and committed together, one batch at a time,
 * on the turn of the event loop after the first item (or, while a batch is committing, as soon as it has). Once a
 * batch has committed the next may commit while the first waits to be made durable; each item settles only after
 * `durable()`, called after its own batch committed, resolves. So a commit never waits for a sync, a sync never
 * waits for a commit, and no item is acknowledged before the sync that covers it.
 */
export class BatchedWrites<I, O> {
  private pending: Array<{ item: I; resolve: (out: O) => void; reject: (error: unknown) => void }> = [];
  private state: 'idle' | 'scheduled' | 'committing' = 'idle';
  /** Batches committed and not yet settled. */
  private settling = new Set<Promise<void>>();

  /**
   * @param commit commits the items together: an outcome per item, in order (`{ error }` refuses that item alone,
   * having written nothing of it), or a rejection that refuses them all.
   * @param durable resolves once everything committed before the call is on stable storage.
   */
  constructor(
    private readonly commit: (items: I[]) => Promise<Array<BatchOutcome<O>>>,
    private readonly durable: () => Promise<void>,
  ) {}

  /** Adds `item` to the next batch; settles once its batch is committed and durable. */
  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once every item added so far has settled. */
  async drained(): Promise<void> {
    while (this.state !== 'idle' || this.settling.size > 0 || this.pending.length > 0) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      await Promise.all(this.settling);
    }
  }

  private schedule(): void {
    if (this.state !== 'idle' || this.pending.length === 0) return;
    this.state = 'scheduled';
    setImmediate(() => void this.commitPending());
  }

  private async commitPending(): Promise<void> {
    this.state = 'committing';
    const batch = this.pending;
    this.pending = [];
    let outcomes: Array<BatchOutcome<O>>;
    try {
      outcomes = await this.commit(batch.map((p) => p.item));
    } catch (error) {
      for (const { reject } of batch) reject(error);
      return;
    } finally {
      this.state = 'idle';
      this.schedule();
    }
    const settled = this.settle(batch, outcomes).finally(() => this.settling.delete(settled));
    this.settling.add(settled);
  }

  /** Waits for a sync that started after the batch committed (none when it wrote nothing), then settles each item. */
  private async settle(batch: typeof this.pending, outcomes: Array<BatchOutcome<O>>): Promise<void> {
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
