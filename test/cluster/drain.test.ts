/**
 * Three worker processes with different installed models drain 50 jobs submitted to a gateway process, on a private
 * durable redis-server: every job runs exactly once (one attempt, one start), succeeds on the model it asked for,
 * and only on a worker that has that model installed.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../http/support.js';
import { clusterEnv, describeTimeline, startGatewayOnly, startWorker, startedBy } from '../support/cluster-api.js';
import { ProcessGroup } from '../support/processes.js';

/** Each worker's installed models: one has only ti2v-5B, one only t2v-A14B, one both. */
const WORKERS: Record<string, string> = { 'w-5b': 'ti2v-5B', 'w-14b': 't2v-A14B', 'w-both': 't2v-A14B,ti2v-5B' };
const JOBS = 50;

describe('three workers with different models drain 50 jobs', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());

  test('each job runs exactly once, on a worker that has its model', async () => {
    const redis = await group.startRedis();
    // Short simulated jobs (about a third of a second each at this scale) keep the drain within seconds.
    const env = await clusterEnv(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: '0.005', UNDERSTUDY_JOBS_LEASE_MS: '5000' });
    const api = await startGatewayOnly(group, redis.url, env);
    await Promise.all(Object.entries(WORKERS).map(([id, installed]) => startWorker(group, redis.url, id, { ...env, UNDERSTUDY_SIMULATED_INSTALLED_MODELS: installed })));
    await waitUntil(async () => (await api.workers()) === 3, 20_000, 'the three workers in /v1/workers');

    const models = Array.from({ length: JOBS }, (_, i) => (i % 2 === 0 ? 'ti2v-5B' : 't2v-A14B'));
    const ids = await Promise.all(models.map((model, i) => api.submit({ model, prompt: `drain ${i}` })));
    const done = await Promise.all(ids.map((id) => api.final(id, 90_000)));

    const ranOn = new Map<string, number>();
    for (const [i, job] of done.entries()) {
      assert.equal(job.status, 'succeeded', describeTimeline(job));
      assert.equal(job.modelUsed, models[i], `${job.id} ran the model it asked for`);
      assert.equal(job.attempts, 1, describeTimeline(job));
      const starts = startedBy(job);
      assert.equal(starts.length, 1, `one start: ${describeTimeline(job)}`);
      assert.equal(job.timeline.filter((e) => e.kind === 'succeeded').length, 1, describeTimeline(job));
      const worker = starts[0]!;
      assert.ok(WORKERS[worker]?.split(',').includes(job.modelUsed), `${job.id} (${job.modelUsed}) ran on ${worker}, which has ${WORKERS[worker]}`);
      ranOn.set(worker, (ranOn.get(worker) ?? 0) + 1);
    }
    assert.deepEqual([...ranOn.keys()].sort(), Object.keys(WORKERS).sort(), `every worker took jobs: ${JSON.stringify(Object.fromEntries(ranOn))}`);
  });
});
