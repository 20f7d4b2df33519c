/**
 * Group commit of many callers' writes: items are gathered and stored together, one batch at a time. A batch is
 * stored on the turn of the event loop after its first item, or, while the previous batch is still being stored
 * (syncing), as soon as that ends: so the busier the store, the larger the batches, and no item waits longer than
 * the batch in progress plus its own.
 */
export class BatchedWrites<I, O> {
  private pending: Array<{ item: I; resolve: (out: O) => void; reject: (error: unknown) => void }> = [];
  private state: 'idle' | 'scheduled' | 'storing' = 'idle';

  /**
   * @param storeBatch stores the items together and settles each: an outcome per item, in order (`{ error }` refuses
   * that item alone), or a rejection that refuses them all.
   */
  constructor(private readonly storeBatch: (items: I[]) => Promise<Array<{ value: O } | { error: unknown }>>) {}

  /** Adds `item` to the next batch; settles once its batch is stored. */
  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.state !== 'idle' || this.pending.length === 0) return;
    this.state = 'scheduled';
    setImmediate(() => void this.storePending());
  }

  private async storePending(): Promise<void> {
    this.state = 'storing';
    const batch = this.pending;
    this.pending = [];
    try {
      const outcomes = await this.storeBatch(batch.map((p) => p.item));
      outcomes.forEach((outcome, i) => {
        const waiter = batch[i];
        if (!waiter) return;
        if ('value' in outcome) waiter.resolve(outcome.value);
        else waiter.reject(outcome.error);
      });
    } catch (error) {
      for (const { reject } of batch) reject(error);
    } finally {
      this.state = 'idle';
      this.schedule();
    }
  }
}
