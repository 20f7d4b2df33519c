/**
 * The processes of a cluster on a private durable redis-server, for real: a job cancelled on another gateway than
 * the one it was submitted to.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../http/support.js';
import { clusterEnv, gatewayApi, type JobBody } from '../support/cluster-api.js';
import { ProcessGroup } from '../support/processes.js';

/** 1080p at high quality on t2v-A14B: about 4.7 s on the simulated GPU, long enough to act while it runs. */
const LONG_JOB = { model: 't2v-A14B', prompt: 'a long one', resolution: '1920x1080', quality: 'high' };
const ALL_MODELS = 't2v-A14B,i2v-A14B,ti2v-5B';

describe('two gateways on one Redis', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());

  test('a job submitted on one and cancelled on the other ends cancelled, seen so from both; the worker is free again', async () => {
    const redis = await group.startRedis();
    const env = await clusterEnv(group, { UNDERSTUDY_JOBS_LEASE_MS: '2000' });
    const store = ['--store', redis.url];
    const [one, two] = await Promise.all(
      ['gateway-1', 'gateway-2'].map(async (name) => gatewayApi((await group.gateway(name, [...store, '--no-worker', '--data-dir', await group.tempDir(name)], env)).url)),
    );
    await group.worker('worker', [...store, '--id', 'worker', '--data-dir', await group.tempDir('worker')], {
      ...env,
      UNDERSTUDY_SIMULATED_INSTALLED_MODELS: ALL_MODELS,
    });
    await waitUntil(async () => (await one!.workers()) === 1 && (await two!.workers()) === 1, 20_000, 'the worker in both /v1/workers');

    const id = await one!.submit(LONG_JOB);
    await waitUntil(async () => (await two!.job(id)).status === 'running', 20_000, `generation ${id} running, seen from gateway 2`);
    const cancelled = await two!.request<JobBody>(`/v1/generations/${id}`, { method: 'DELETE' });
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    for (const api of [one!, two!]) {
      const seen = await api.job(id);
      assert.equal(seen.status, 'cancelled');
      assert.equal(seen.output, null);
    }
    // The worker stopped the generation: the next job runs on it and succeeds, and the cancelled one never does.
    const next = await two!.submit({ model: 'ti2v-5B', prompt: 'after the cancel' });
    assert.equal((await one!.final(next)).status, 'succeeded');
    for (const api of [one!, two!]) {
      const seen = await api.job(id);
      assert.equal(seen.status, 'cancelled');
      assert.ok(!seen.timeline.some((e) => e.kind === 'succeeded'), JSON.stringify(seen.timeline));
    }
  });
});
