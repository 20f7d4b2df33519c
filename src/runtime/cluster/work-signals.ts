/**
 * Port: "there is work for model X", from the process that queued it to every worker, so an idle worker claims a
 * job as soon as a gateway accepts it instead of at its next scheduling tick. A hint only: the job is in the store,
 * and a worker that missed the signal finds it at its next tick.
 */
export interface WorkSignals {
  /** Tells every worker that a job of `modelId` became claimable. */
  signal(modelId: string): Promise<void>;
  /** Calls `listener` for every signal from now on; returns a function that stops listening. */
  onWork(listener: (modelId: string) => void): () => void;
}
