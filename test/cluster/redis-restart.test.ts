/**
 * redis-server SIGKILLed under a working cluster (a gateway process and two worker processes) and started again on
 * the same port and directory (AOF, fsync always): every job the gateway acknowledged with a 202 finishes; while
 * Redis is down the gateway answers 503 with Retry-After; the workers reconnect and take new jobs.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../http/support.js';
import { clusterEnv, describeTimeline, gatewayApi } from '../support/cluster-api.js';
import { ProcessGroup } from '../support/processes.js';

const ALL_MODELS = 't2v-A14B,i2v-A14B,ti2v-5B';
const JOBS = 16;

describe('redis-server SIGKILLed and restarted', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());

  test('every acknowledged job finishes; the gateway answers 503 meanwhile; the workers reconnect', async () => {
    const redis = await group.startRedis();
    const env = await clusterEnv(group, { UNDERSTUDY_JOBS_LEASE_MS: '5000' });
    const store = ['--store', redis.url];
    const api = gatewayApi((await group.gateway('gateway', [...store, '--no-worker', '--data-dir', await group.tempDir('gateway')], env)).url);
    await Promise.all(
      ['w-1', 'w-2'].map(async (id) => group.worker(id, [...store, '--id', id, '--data-dir', await group.tempDir(id)], { ...env, UNDERSTUDY_SIMULATED_INSTALLED_MODELS: ALL_MODELS })),
    );
    await waitUntil(async () => (await api.workers()) === 2, 20_000, 'both workers in /v1/workers');

    const models = Array.from({ length: JOBS }, (_, i) => (i % 2 === 0 ? 'ti2v-5B' : 't2v-A14B'));
    const acknowledged = await Promise.all(models.map((model, i) => api.submit({ model, prompt: `before the crash ${i}` })));
    // Some run, most wait: the crash catches jobs in both states.
    await waitUntil(async () => (await api.job(acknowledged[0]!)).status === 'running' || (await api.job(acknowledged[1]!)).status === 'running', 20_000, 'a job running');

    redis.child.process.kill('SIGKILL');
    await redis.child.exited;
    const refused = await api.request<{ error: { code: string } }>('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'while Redis is down' } });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'store_unavailable');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal((await api.request(`/v1/generations/${acknowledged[0]}`)).status, 503, 'reads answer 503 too');

    await group.startRedis({ port: redis.port, dir: redis.dir });
    // Accepted again once the gateway's connection is back.
    const afterRestart = await waitUntil(async () => {
      const { status, body } = await api.request<{ id: string }>('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'after the restart' } });
      return status === 202 ? body.id : undefined;
    }, 30_000, 'a 202 after the restart');

    for (const id of [...acknowledged, afterRestart]) {
      const done = await api.final(id, 90_000);
      assert.equal(done.status, 'succeeded', describeTimeline(done));
      assert.equal(done.timeline.filter((e) => e.kind === 'succeeded').length, 1, describeTimeline(done));
    }
    const { workers } = (await api.request<{ workers: Array<{ workerId: string }> }>('/v1/workers')).body;
    assert.deepEqual(workers.map((w) => w.workerId).sort(), ['w-1', 'w-2'], 'both workers announce themselves again');
  });
});
