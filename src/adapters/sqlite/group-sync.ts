/**
 * Group commit: callers that need what they wrote to be on stable storage share syncs. A caller arriving while no
 * sync runs starts one; callers arriving while one runs (it may have started before their write) wait for the next,
 * which starts as soon as the running one ends and covers them all. So under load there is at most one sync running
 * and one waiting, however many writers there are, and no writer is released by a sync that started before its write.
 */
export class GroupSync {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  /** @param sync flushes everything written so far to stable storage (e.g. `fdatasync` of a log file). */
  constructor(private readonly sync: () => Promise<void>) {}

  /** Resolves once everything written before the call is on stable storage; rejects if that sync fails. */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    this.queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<void> {
    const sync = Promise.resolve()
      .then(this.sync)
      .finally(() => {
        if (this.running === sync) this.running = undefined;
      });
    this.running = sync;
    return sync;
  }
}
