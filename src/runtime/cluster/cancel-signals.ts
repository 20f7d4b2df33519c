/** Called for every cancel signal: the job to stop and why, in plain words (e.g. "cancelled by the user"). */
export type CancelListener = (jobId: string, reason: string) => void;

/**
 * Port: cancel a running job on whichever worker runs it. The gateway that takes the DELETE marks the job cancelled
 * in the store, then signals; the worker running the job aborts its generation at once (a ComfyUI backend interrupts
 * the prompt through its abort path). A worker that misses the signal still stops at its next lease renewal, which
 * the cancelled record refuses: the signal makes it prompt, the store makes it certain.
 */
export interface CancelSignals {
  /** Tells every worker that `jobId` is cancelled. */
  signal(jobId: string, reason: string): Promise<void>;
  /** Calls `listener` for every cancel signal from now on; returns a function that stops listening. */
  onCancel(listener: CancelListener): () => void;
}
