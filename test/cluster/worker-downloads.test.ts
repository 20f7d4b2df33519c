/**
 * Downloads where the GPU is, on real processes: a gateway process places the download of a model no worker has on
 * one of two worker processes; the jobs that waited for it are released to that worker only (the other never has
 * the model, so never claims from its queue), later jobs of the model go there too, and `POST /v1/models/:id/download`
 * on the gateway goes through a worker.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../http/support.js';
import { clusterEnv, describeTimeline, startGatewayOnly, startWorker, startedBy } from '../support/cluster-api.js';
import { ProcessGroup } from '../support/processes.js';

interface WorkerView {
  workerId: string;
  backends: Array<{ installed: string[] }>;
}

describe('a gateway places downloads on workers', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());

  test('the model downloads on one worker, which alone runs the jobs that waited for it', async () => {
    const redis = await group.startRedis();
    // 12 GiB at the simulated 50 MiB/s is 245 s; at this scale a bit over a second. Jobs take a fraction of one.
    const env = await clusterEnv(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: '0.005', UNDERSTUDY_SIMULATED_INSTALLED_MODELS: 'ti2v-5B' });
    const api = await startGatewayOnly(group, redis.url, env);
    for (const id of ['w-a', 'w-b']) await startWorker(group, redis.url, id, env);
    const workers = async (): Promise<WorkerView[]> => (await api.request<{ workers: WorkerView[] }>('/v1/workers')).body.workers;
    const holders = async (modelId: string): Promise<string[]> =>
      (await workers()).filter((w) => w.backends.some((b) => b.installed.includes(modelId))).map((w) => w.workerId);
    await waitUntil(async () => (await api.workers()) === 2, 20_000, 'both workers in /v1/workers');
    // The planner reads the workers every 2 s: wait until it sees ti2v-5B, so t2v-A14B reads as missing, not unknown.
    await waitUntil(async () => (await api.modelStatus('ti2v-5B')) === 'available', 20_000, 'the gateway to see ti2v-5B on a worker');

    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await api.submit({ model: 't2v-A14B', prompt: `waits for its model ${i}`, allowAlternatives: false, allowQualityReduction: false }));
    const first = await api.job(ids[0]!);
    assert.ok(['waiting_for_model', 'queued', 'running', 'succeeded'].includes(first.status), describeTimeline(first));

    await Promise.all(ids.map((id) => api.final(id, 60_000)));
    // The final estimate entry follows the end of the job: read each once it is there.
    const done = await Promise.all(
      ids.map((id) => waitUntil(async () => {
        const job = await api.job(id);
        return job.timeline.some((e) => e.kind === 'estimate' && e.data?.final === true) ? job : undefined;
      }, 10_000, `the final estimate entry of ${id}`)),
    );
    const downloader = await holders('t2v-A14B');
    assert.equal(downloader.length, 1, `one worker downloaded t2v-A14B: ${JSON.stringify(await workers())}`);
    for (const job of done) {
      assert.equal(job.status, 'succeeded', describeTimeline(job));
      assert.equal(job.modelUsed, 't2v-A14B', describeTimeline(job));
      assert.deepEqual(startedBy(job), downloader, `ran on the worker that has the model: ${describeTimeline(job)}`);
      assert.equal(job.timeline.filter((e) => e.kind === 'estimate' && e.data?.first === true).length, 1, `one first promise: ${describeTimeline(job)}`);
      assert.equal(job.timeline.filter((e) => e.kind === 'estimate' && e.data?.final === true).length, 1, `one final entry: ${describeTimeline(job)}`);
      const placed = job.timeline.filter((e) => e.kind === 'download_placed');
      assert.equal(placed.length, 1, `its timeline says once where its model downloads: ${describeTimeline(job)}`);
      assert.match(placed[0]!.message, new RegExp(`t2v-A14B downloads on ${downloader[0]}`));
    }

    const later = await api.final(await api.submit({ model: 't2v-A14B', prompt: 'after the download', allowAlternatives: false }), 30_000);
    assert.deepEqual(startedBy(later), downloader, describeTimeline(later));
    assert.deepEqual(await holders('t2v-A14B'), downloader, 'still only one copy of the model');

    // On demand, through the API: the gateway has no GPU, so a worker downloads it, and the API says so.
    const asked = await api.request<{ modelId: string; status: string }>('/v1/models/i2v-A14B/download', { method: 'POST' });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    assert.equal(asked.body.status, 'downloading');
    const i2v = await waitUntil(async () => {
      const found = await holders('i2v-A14B');
      return found.length > 0 ? found : undefined;
    }, 30_000, 'a worker to have i2v-A14B');
    assert.equal(i2v.length, 1, 'one download of i2v-A14B in the cluster');
    await waitUntil(async () => (await api.modelStatus('i2v-A14B')) === 'available', 20_000, 'the gateway to list i2v-A14B as available');
  });
});
