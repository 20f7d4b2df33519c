/**
 * Tells the jobs that wait for a model where its download runs: a placement (a gateway chose a worker, again when
 * that worker left, or found none that can take it yet) becomes a `download_placed` entry in the timeline of every
 * job waiting for that model, so `GET /v1/generations/:id` says which machine it waits on. Called again while the
 * download is followed, it notes only the jobs whose last such entry does not say the same (jobs that began waiting
 * since), so each job reads each placement once.
 */
import type { UnderstudyEvent } from './engine-events.js';
import type { JobStore } from './job-store.js';

/** Most waiting jobs read per placement (the store's page limit). */
const PAGE = 1000;

/** Notes `placed` in the timeline of every job waiting for its model that has not noted it yet; resolves once written. */
export async function noteDownloadPlacement(store: JobStore, placed: Extract<UnderstudyEvent, { type: 'download.placed' }>): Promise<void> {
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
