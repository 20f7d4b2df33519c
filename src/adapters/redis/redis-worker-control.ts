/**
 * Worker control on BullMQ: one queue per worker (keys `<prefix>:control:<workerId>:…`), one job per command. A
 * download is the job `download-<modelId>` (BullMQ ids cannot hold a lone ':'), and BullMQ ignores an add whose id
 * exists, so a model is downloaded at most once per worker at a time; the job is removed when it ends, so a later
 * request downloads again. The worker processes its queue with a BullMQ Worker, which holds a lock renewed while
 * the download runs: a worker that dies leaves the job active with a lapsing lock, its stall is noticed when that
 * worker comes back, and meanwhile the gateway, seeing it gone from the directory, asks another worker.
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ControlRequestState, WorkerControl, WorkerControlHandlers, WorkerControlServer } from '../../runtime/cluster/worker-control.js';
import { blockingTemplate } from './blocking-template.js';
import { keyPrefix } from './redis-key-prefix.js';

/** Options of {@link RedisWorkerControl}. */
export interface RedisWorkerControlOptions {
  /** A client the caller owns (and quits), any role; a served queue reads on a blocking duplicate of it. */
  connection: Redis;
  /** Key prefix (default `us`). */
  prefix?: string;
  /** How long a worker's hold on a command lasts unless renewed (BullMQ renews it at half), ms (default 60 000). */
  lockMs?: number;
  /** Commands a worker runs at once (default 2). */
  concurrency?: number;
  /** Connection and processing errors of a served queue. Default: ignored. */
  onError?: (error: unknown) => void;
}

const DOWNLOAD = 'download';

/** {@link WorkerControl} on a BullMQ queue per worker; {@link close} closes its queues and served channels. */
export class RedisWorkerControl implements WorkerControl {
  private readonly prefix: string;
  private readonly queues = new Map<string, Queue>();
  private readonly servers = new Set<WorkerControlServer>();

  constructor(private readonly options: RedisWorkerControlOptions) {
    this.prefix = `${keyPrefix(options.prefix)}:control`;
  }

  async requestDownload(workerId: string, modelId: string): Promise<void> {
    await this.queueOf(workerId).add(DOWNLOAD, { modelId }, { jobId: downloadJobId(modelId), attempts: 1, removeOnComplete: true, removeOnFail: true });
  }

  async downloadState(workerId: string, modelId: string): Promise<ControlRequestState> {
    const state = await this.queueOf(workerId).getJobState(downloadJobId(modelId));
    if (state === 'active') return 'running';
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed' || state === 'waiting-children') return 'pending';
    return 'none';
  }

  serve(workerId: string, handlers: WorkerControlHandlers): WorkerControlServer {
    checkWorkerId(workerId);
    const template = blockingTemplate(this.options.connection);
    const worker = new Worker(
      workerId,
      async (job: Job<{ modelId: string }>) => {
        if (job.name !== DOWNLOAD) throw new Error(`unknown control command "${job.name}"; expected ${DOWNLOAD}`);
        await handlers.download(job.data.modelId);
      },
      { connection: template, prefix: this.prefix, lockDuration: this.options.lockMs ?? 60_000, concurrency: this.options.concurrency ?? 2 },
    );
    worker.on('error', (error) => this.options.onError?.(error));
    worker.on('failed', (_job, error) => this.options.onError?.(error));
    const server: WorkerControlServer = {
      close: async () => {
        this.servers.delete(server);
        await worker.close();
        template.disconnect();
      },
    };
    this.servers.add(server);
    return server;
  }

  /** Closes every served channel and queue (not the caller's connection). */
  async close(): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }

  private queueOf(workerId: string): Queue {
    checkWorkerId(workerId);
    let queue = this.queues.get(workerId);
    if (!queue) {
      queue = new Queue(workerId, { connection: this.options.connection, prefix: this.prefix });
      this.queues.set(workerId, queue);
    }
    return queue;
  }
}

function downloadJobId(modelId: string): string {
  if (!/^[^\s:]+$/.test(modelId)) throw new RangeError(`model id "${modelId}" must be non-empty, without spaces or ':'`);
  return `${DOWNLOAD}-${modelId}`;
}

function checkWorkerId(workerId: string): void {
  if (!/^[^\s:]+$/.test(workerId)) throw new RangeError(`worker id "${workerId}" must be non-empty, without spaces or ':'`);
}
