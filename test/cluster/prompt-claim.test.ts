/**
 * An idle worker process claims a job as soon as a gateway process accepts it (a work signal on Redis), not at its
 * next scheduling tick: with ticks a minute apart, the job still starts within seconds.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../http/support.js';
import { clusterEnv, describeTimeline, startGatewayOnly, startWorker, startedBy } from '../support/cluster-api.js';
import { ProcessGroup } from '../support/processes.js';

describe('work signals', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());

  test('a job accepted on a gateway starts on an idle worker at once, ticks a minute apart', async () => {
    const redis = await group.startRedis();
    const env = await clusterEnv(group, { UNDERSTUDY_SIMULATED_TIME_SCALE: '0.005', UNDERSTUDY_SCHEDULING_TICK_MS: '60000' });
    const api = await startGatewayOnly(group, redis.url, env);
    await startWorker(group, redis.url, 'w-idle', env);
    await waitUntil(async () => (await api.workers()) === 1, 20_000, 'the worker in /v1/workers');
    await waitUntil(async () => (await api.modelStatus('ti2v-5B')) === 'available', 20_000, 'ti2v-5B available to the planner');

    for (let i = 0; i < 3; i++) {
      const job = await api.final(await api.submit({ model: 'ti2v-5B', prompt: `at once ${i}` }), 20_000);
      assert.equal(job.status, 'succeeded', describeTimeline(job));
      assert.deepEqual(startedBy(job), ['w-idle']);
      const accepted = job.timeline.find((e) => e.kind === 'accepted')!.at;
      const started = job.timeline.find((e) => e.kind === 'started')!.at;
      assert.ok(started - accepted < 5_000, `started ${started - accepted} ms after it was accepted: ${describeTimeline(job)}`);
    }
  });
});
