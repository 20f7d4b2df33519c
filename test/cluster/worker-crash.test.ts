/**
 * Workers killed and frozen for real, on a private durable redis-server with a gateway process (--no-worker):
 * - a worker SIGKILLed mid-job: its lease lapses and the job runs again on the other worker, within the lease plus
 *   slack (the gateway's housekeeping finds the lapsed lease on its next tick and takes the job out of BullMQ's
 *   active list itself, so BullMQ's stalled check, 30 s apart, is not waited for); the lost attempt counts;
 * - a worker SIGSTOPped past its lease, then SIGCONTed while another worker runs the job: the old holder's result
 *   does not count (the result is the second worker's), it stops its generation and takes new work at once.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../http/support.js';
import { clusterEnv, describeTimeline, gatewayApi, startedBy, type GatewayApi, type JobBody } from '../support/cluster-api.js';
import { ProcessGroup, type Child } from '../support/processes.js';

/** 1080p at high quality on t2v-A14B: long enough on the simulated GPU to act while it runs. */
const LONG_JOB = { model: 't2v-A14B', prompt: 'a long one', resolution: '1920x1080', quality: 'high' };
const ALL_MODELS = 't2v-A14B,i2v-A14B,ti2v-5B';
/** Slack on every bound: a loaded 2-core machine delays ticks, renewals and claims. */
const SLACK_MS = 15_000;

/** A gateway (--no-worker) on a fresh durable Redis. */
async function startCluster(group: ProcessGroup, env: Record<string, string>): Promise<{ api: GatewayApi; store: string[] }> {
  const redis = await group.startRedis();
  const store = ['--store', redis.url];
  const { url } = await group.gateway('gateway', [...store, '--no-worker', '--data-dir', await group.tempDir('gateway')], env);
  return { api: gatewayApi(url), store };
}

/** Resolves with the job once it runs and has made progress (so a signal lands mid-generation). */
function midJob(api: GatewayApi, id: string): Promise<JobBody> {
  return waitUntil(async () => {
    const job = await api.job(id);
    return job.status === 'running' && job.progress > 0 ? job : undefined;
  }, 30_000, `generation ${id} running with progress`);
}

/** The timeline entry of `kind` (the only one). */
function only(job: JobBody, kind: string): JobBody['timeline'][number] {
  const entries = job.timeline.filter((e) => e.kind === kind);
  assert.equal(entries.length, 1, `one ${kind} entry: ${describeTimeline(job)}`);
  return entries[0]!;
}

/** Asserts the job's served output is the one its record describes. */
async function assertOutputServed(api: GatewayApi, job: JobBody): Promise<void> {
  const output = await fetch(`${api.url}${job.output!.url}`);
  assert.equal(output.status, 200);
  assert.equal((await output.arrayBuffer()).byteLength, job.output!.sizeBytes);
}

describe('a worker SIGKILLed mid-job', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());
  const LEASE_MS = 4_000;

  test('the job finishes on the other worker, started again within the lease plus slack; the lost attempt counts', async () => {
    const env = await clusterEnv(group, { UNDERSTUDY_JOBS_LEASE_MS: String(LEASE_MS) });
    const { api, store } = await startCluster(group, env);
    const workers = new Map<string, Child>();
    await Promise.all(
      ['w-1', 'w-2'].map(async (id) => {
        workers.set(id, await group.worker(id, [...store, '--id', id, '--data-dir', await group.tempDir(id)], { ...env, UNDERSTUDY_SIMULATED_INSTALLED_MODELS: ALL_MODELS }));
      }),
    );
    await waitUntil(async () => (await api.workers()) === 2, 20_000, 'both workers in /v1/workers');

    const id = await api.submit(LONG_JOB);
    const [first] = startedBy(await midJob(api, id));
    const other = first === 'w-1' ? 'w-2' : 'w-1';
    const victim = workers.get(first!)!;
    victim.process.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;

    const done = await api.final(id, LEASE_MS + SLACK_MS + 30_000);
    assert.equal(done.status, 'succeeded', describeTimeline(done));
    assert.equal(done.attempts, 2, `the lost attempt counts: ${describeTimeline(done)}`);
    assert.deepEqual(startedBy(done), [first, other], describeTimeline(done));
    const lapsed = only(done, 'lease_lapsed');
    assert.match(String(lapsed.data?.owner), new RegExp(`^${first}/`));
    assert.ok(done.timeline.some((e) => e.kind === 'requeued' && e.at >= lapsed.at), describeTimeline(done));
    // Job timestamps are Redis TIME, on this machine's clock: the restart's delay after the kill is measurable.
    const restartedAt = done.timeline.filter((e) => e.kind === 'started')[1]!.at;
    assert.ok(restartedAt - killedAt <= LEASE_MS + SLACK_MS, `started again ${restartedAt - killedAt} ms after the kill (lease ${LEASE_MS} ms)`);
    assert.match(String(only(done, 'succeeded').data?.owner), new RegExp(`^${other}/`));
    await assertOutputServed(api, done);
  });
});

describe('a worker SIGSTOPped past its lease, then SIGCONTed', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());
  const LEASE_MS = 4_000;

  test("its result does not count, the job's result is the other worker's; it stops its generation and takes new work", async () => {
    // Slower simulated jobs (about 9 s for the long one): the frozen worker's generation, had it gone on after
    // SIGCONT, would still run well after the new job below started.
    const env = await clusterEnv(group, { UNDERSTUDY_JOBS_LEASE_MS: String(LEASE_MS), UNDERSTUDY_SIMULATED_TIME_SCALE: '0.04' });
    const { api, store } = await startCluster(group, env);
    // The frozen worker has ti2v-5B and the other has not: a ti2v-5B job afterwards can only run on the frozen one.
    const frozen = await group.worker('w-frozen', [...store, '--id', 'w-frozen', '--data-dir', await group.tempDir('w-frozen')], {
      ...env,
      UNDERSTUDY_SIMULATED_INSTALLED_MODELS: 't2v-A14B,ti2v-5B',
    });
    await waitUntil(async () => (await api.workers()) === 1, 20_000, 'w-frozen in /v1/workers');
    const id = await api.submit(LONG_JOB);
    await midJob(api, id);
    await group.worker('w-other', [...store, '--id', 'w-other', '--data-dir', await group.tempDir('w-other')], { ...env, UNDERSTUDY_SIMULATED_INSTALLED_MODELS: 't2v-A14B' });

    const progressBeforeStop = (await api.job(id)).progress;
    frozen.process.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const takenOver = await waitUntil(async () => {
      const job = await api.job(id);
      return startedBy(job).length === 2 ? job : undefined;
    }, LEASE_MS + SLACK_MS, `generation ${id} started again on w-other`);
    assert.deepEqual(startedBy(takenOver), ['w-frozen', 'w-other'], describeTimeline(takenOver));
    // Taken over only once the lease w-frozen held when it froze had run out.
    const heldUntil = Number(only(takenOver, 'lease_lapsed').data?.leaseExpiresAt);
    assert.ok(heldUntil >= stoppedAt - 50, `the lease lapsed at ${heldUntil}, after the stop at ${stoppedAt}`);
    assert.ok(takenOver.timeline.filter((e) => e.kind === 'started')[1]!.at >= heldUntil, describeTimeline(takenOver));
    frozen.process.kill('SIGCONT');
    const continuedAt = Date.now();

    // The frozen worker, back, learns at its next renewal or progress write that the job is no longer its own.
    const next = await api.submit({ model: 'ti2v-5B', prompt: 'only w-frozen has ti2v-5B' });
    const done = await api.final(id);
    assert.equal(done.status, 'succeeded', describeTimeline(done));
    assert.equal(done.attempts, 2, describeTimeline(done));
    assert.deepEqual(startedBy(done), ['w-frozen', 'w-other'], describeTimeline(done));
    assert.match(String(only(done, 'lease_lapsed').data?.owner), /^w-frozen\//);
    assert.match(String(only(done, 'succeeded').data?.owner), /^w-other\//, "the result is w-other's");
    await assertOutputServed(api, done);

    const nextDone = await api.final(next);
    assert.equal(nextDone.status, 'succeeded', describeTimeline(nextDone));
    assert.deepEqual(startedBy(nextDone), ['w-frozen']);
    // Had w-frozen finished its stale generation instead of stopping it, its slot would have stayed busy for the
    // rest of it: about (1 - progress) of the long job's run on w-other.
    const runOnOther = only(done, 'succeeded').at - done.timeline.filter((e) => e.kind === 'started')[1]!.at;
    const staleRest = (1 - progressBeforeStop) * runOnOther;
    const nextStartedAfter = nextDone.timeline.find((e) => e.kind === 'started')!.at - continuedAt;
    assert.ok(nextStartedAfter < staleRest, `w-frozen took new work ${nextStartedAfter} ms after SIGCONT; its stale generation had ${Math.round(staleRest)} ms left`);

    // Nothing w-frozen did after SIGCONT changed the outcome.
    const later = await api.job(id);
    assert.deepEqual([later.status, later.attempts, later.output], [done.status, done.attempts, done.output]);
    assert.deepEqual(startedBy(later), ['w-frozen', 'w-other']);
    assert.equal(later.timeline.filter((e) => e.kind === 'succeeded').length, 1, describeTimeline(later));
    // And left no file of its own beside the output of w-other's attempt in the shared outputs directory.
    const outputs = await readdir(join(env.UNDERSTUDY_ARTIFACTS_DIR!, 'outputs'));
    assert.deepEqual(outputs.filter((name) => name.startsWith(id)), [`${id}.attempt-2.gif`]);
  });
});
