/** What a worker does when asked through its control channel. */
export interface WorkerControlHandlers {
  /** Downloads (and verifies) `modelId` on this worker; resolves when the model is installed. */
  download(modelId: string): Promise<void>;
}

/** A worker's control channel being served. */
export interface WorkerControlServer {
  /**
   * Stops taking requests and resolves once the requests under way have ended (abort the downloads first to stop
   * sooner). A worker that dies instead leaves its request under way; it is taken again when the worker serves again.
   */
  close(): Promise<void>;
}

/**
 * Where a download requested of a worker stands: `pending` until the worker takes it, `running` while it downloads,
 * `none` when it was never requested or has ended (its outcome comes as `model.status` events).
 */
export type ControlRequestState = 'pending' | 'running' | 'none';

/**
 * Port: commands for one worker, queued durably. One download per model per worker: asking again while a download is
 * pending or running is a no-op. When the worker dies with a request under way, the request stalls; the gateway
 * sees the worker gone from the directory and asks another worker.
 */
export interface WorkerControl {
  /** Asks `workerId` to download `modelId`; a no-op while that download is already requested there. */
  requestDownload(workerId: string, modelId: string): Promise<void>;
  /** Where the download of `modelId` requested of `workerId` stands. */
  downloadState(workerId: string, modelId: string): Promise<ControlRequestState>;
  /** Serves `workerId`'s control channel with `handlers` until closed. */
  serve(workerId: string, handlers: WorkerControlHandlers): WorkerControlServer;
}
