/**
 * Tells the jobs that wait for a model where its download runs: a placement (a gateway chose a worker, again when
 * that worker left, or found none that can take it yet) becomes a `download_placed` entry in the timeline of every
 * job waiting for that model, so `GET /v1/generations/:id` says which machine it waits on. Called again while the
 * download is followed (when the number of waiting jobs changed), it notes only the jobs whose last such entry does
 * not say the same (jobs that began waiting since), so each job reads each placement once.
 */
import type { DownloadPlaced, WaitingJobs } from './cluster/cluster-downloads.js';
import { waitingForModelTotal, type JobStore } from './job-store.js';

/** Most waiting jobs read per placement (the store's page limit). */
const PAGE = 1000;

/** Notes `placed` in the timeline of every job waiting for its model that has not noted it yet; resolves once written. */
export async function noteDownloadPlacement(store: JobStore, placed: DownloadPlaced): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await store.list({ status: 'waiting_for_model', limit: PAGE, ...(cursor ? { cursor } : {}) });
    for (const job of page.jobs) {
      if (job.waitingFor !== placed.modelId) continue;
      if (job.timeline.findLast((e) => e.kind === 'download_placed')?.message === placed.message) continue;
      await store.appendTimeline(job.id, { at: placed.at, kind: 'download_placed', message: placed.message, data: { modelId: placed.modelId, workerId: placed.workerId } });
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/** The store's waiting jobs as a placement tells them: counted from the queue snapshot, noted as above. */
export function waitingJobsOf(store: JobStore): WaitingJobs {
  return {
    count: async (modelId) => {
      const counts = (await store.queueSnapshot()).byModel[modelId];
      return counts ? waitingForModelTotal(counts) : 0;
    },
    note: (placed) => noteDownloadPlacement(store, placed),
  };
}
