/**
 * Gateways and workers as real processes on a private, durable redis-server: `understudy serve --store … --no-worker`
 * and two `understudy worker --store …` (one with only ti2v-5B installed), talking over HTTP, WebSocket and Redis
 * only. Every process is SIGKILLed at the end. Then startup refuses a Redis that can lose jobs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openEvents, waitUntil } from '../http/support.js';
import { ProcessGroup, withDeadline, type RedisProcess } from '../support/processes.js';

interface JobBody {
  id: string;
  status: string;
  attempts: number;
  modelUsed: string;
  output: { url: string; sizeBytes: number } | null;
  timeline: Array<{ kind: string; message: string }>;
}

const FINAL = ['succeeded', 'failed', 'cancelled', 'expired'];

describe('a gateway and two workers on Redis, as processes', () => {
  const group = new ProcessGroup();
  let redis: RedisProcess;
  let url: string;

  const api = async <T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: T }> => {
    const { json, ...rest } = init;
    const response = await fetch(`${url}${path}`, {
      ...rest,
      ...(json !== undefined ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } } : {}),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const job = async (id: string): Promise<JobBody> => (await api<JobBody>(`/v1/generations/${id}`)).body;
  const submit = async (body: Record<string, unknown>): Promise<string> => {
    const { status, body: accepted } = await api<{ id: string }>('/v1/generations', { method: 'POST', json: body });
    assert.equal(status, 202, JSON.stringify(accepted));
    return accepted.id;
  };
  const final = (id: string): Promise<JobBody> =>
    waitUntil(async () => {
      const current = await job(id);
      return FINAL.includes(current.status) ? current : undefined;
    }, 60_000, `generation ${id} to finish`);

  before(async () => {
    redis = await group.startRedis();
    const artifacts = await group.tempDir('artifacts');
    const common = {
      UNDERSTUDY_HEALTH_INTERVAL_SECONDS: '0',
      UNDERSTUDY_RATE_LIMIT_MAX: '0', // the test polls
      // One shared directory for inputs and outputs, as a shared mount would be; each process has its own data dir.
      UNDERSTUDY_ARTIFACTS_DIR: artifacts,
      UNDERSTUDY_SHUTDOWN_GRACE_SECONDS: '1',
    };
    const store = ['--store', redis.url];
    ({ url } = await group.gateway('gateway', [...store, '--no-worker', '--data-dir', await group.tempDir('gateway')], common));
    await Promise.all([
      group.worker('w-small', [...store, '--id', 'w-small', '--data-dir', await group.tempDir('w-small')], common),
      group.worker('w-full', [...store, '--id', 'w-full', '--data-dir', await group.tempDir('w-full')], {
        ...common,
        UNDERSTUDY_SIMULATED_INSTALLED_MODELS: 't2v-A14B,i2v-A14B,ti2v-5B',
      }),
    ]);
    // The gateway reads the directory every 2 s: plan only once it sees both workers.
    await waitUntil(async () => (await api<{ workers: unknown[] }>('/v1/workers')).body.workers.length === 2, 20_000, 'both workers in /v1/workers');
    // …and once its planner's view (read from the directory every 2 s) has w-full's t2v-A14B.
    await waitUntil(async () => (await api<Array<{ id: string; status: string }>>('/v1/models')).body.find((m) => m.id === 't2v-A14B')?.status === 'available', 20_000, 't2v-A14B available to the planner');
  });

  after(() => group.killAll());

  test('/readyz names the Redis store, durable; /v1/workers lists both workers with their installed models', async () => {
    const ready = await api<{ store: { kind: string; location: string; volatile: boolean } }>('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.store, { kind: 'redis', location: redis.url, reachable: true, volatile: false, problems: [] });
    const { workers } = (await api<{ workers: Array<{ workerId: string; backends: Array<{ installed: string[] }> }> }>('/v1/workers')).body;
    const installed = Object.fromEntries(workers.map((w) => [w.workerId, w.backends[0]!.installed]));
    assert.deepEqual(installed, { 'w-full': ['i2v-A14B', 't2v-A14B', 'ti2v-5B'], 'w-small': ['ti2v-5B'] });
  });

  test('jobs submitted to the gateway all finish, each run exactly once, t2v only on the worker that has it; outputs are served by the gateway', async () => {
    const models = ['t2v-A14B', 'ti2v-5B', 'ti2v-5B', 't2v-A14B', 'ti2v-5B', 'ti2v-5B', 't2v-A14B', 'ti2v-5B'];
    const ids = await Promise.all(models.map((model, i) => submit({ model, prompt: `job ${i}` })));
    const done = await Promise.all(ids.map(final));
    const owners = new Set<string>();
    for (const [i, result] of done.entries()) {
      assert.equal(result.status, 'succeeded', `${result.id}: ${JSON.stringify(result.timeline)}`);
      assert.equal(result.modelUsed, models[i], 'ran as requested: a worker had the model');
      assert.equal(result.attempts, 1);
      const started = result.timeline.filter((e) => e.kind === 'started');
      assert.equal(started.length, 1, `${result.id} started once`);
      const owner = /started by (\S+)\//.exec(started[0]!.message)?.[1];
      owners.add(owner!);
      if (models[i] === 't2v-A14B') assert.equal(owner, 'w-full', 'only w-full has t2v-A14B');
      const output = await fetch(`${url}${result.output!.url}`);
      assert.equal(output.status, 200);
      assert.equal((await output.arrayBuffer()).byteLength, result.output!.sizeBytes);
    }
    assert.deepEqual([...owners].sort(), ['w-full', 'w-small'], 'both workers took jobs');
    // The final truth beside the first promise is written once, by the worker that ran the job, not by each gateway.
    for (const id of ids) {
      let timeline: JobBody['timeline'] = [];
      const finals = await waitUntil(async () => {
        timeline = (await job(id)).timeline;
        const entries = timeline.filter((e) => e.kind === 'estimate' && /^result after/.test(e.message));
        return entries.length > 0 ? entries : undefined;
      }, 20_000, `${id}'s final estimate entry`).catch((error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(timeline)}`);
      });
      assert.equal(finals.length, 1, `${id}: ${JSON.stringify(finals)}`);
    }
  });

  test("the gateway's health reads its live workers' GPUs, not its own machine's", async () => {
    const health = await waitUntil(async () => {
      const body = (await api<{ gpuAvailable: boolean; vramUsagePercent: number | null; issues: string[] }>('/v1/health')).body;
      return body.gpuAvailable ? body : undefined;
    }, 20_000, 'a health check that sees the workers');
    assert.equal(typeof health.vramUsagePercent, 'number');
    assert.ok(!health.issues.some((i) => /No GPU/.test(i)), JSON.stringify(health.issues));
  });

  test('a running job cancelled through the gateway stops on its worker, whose event reaches the gateway WebSocket', async () => {
    // 1080p at high quality: about 4.7 s on the simulated GPU, time enough to cancel it while it runs.
    const id = await submit({ model: 't2v-A14B', prompt: 'a long one', resolution: '1920x1080', quality: 'high' });
    const events = await openEvents(url, `?jobId=${id}`);
    try {
      await events.waitFor((e) => e.type === 'job.progress', 20_000);
      const cancelled = await api<JobBody>(`/v1/generations/${id}`, { method: 'DELETE' });
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, 'cancelled');
      // Sent by the worker once its generation stopped, relayed through Redis to this gateway.
      await events.waitFor((e) => e.type === 'job.cancelled' && e.message === 'cancelled while running', 20_000);
    } finally {
      events.close();
    }
    const after = await job(id);
    assert.equal(after.status, 'cancelled');
    assert.equal(after.output, null);
    assert.ok(!after.timeline.some((e) => e.kind === 'succeeded'));
  });
});

describe('startup on a Redis that can lose jobs', () => {
  const group = new ProcessGroup();
  after(() => group.killAll());

  test('is refused with the commands that fix it, and the password never shows', async () => {
    const redis = await group.startRedis({ args: ['--appendonly', 'no', '--requirepass', 's3cret-pass'] });
    const store = `redis://:s3cret-pass@127.0.0.1:${redis.port}`;
    for (const [command, args] of [
      ['serve', ['serve', '--port', '0', '--store', store, '--no-worker']],
      ['worker', ['worker', '--store', store]],
    ] as const) {
      const child = group.understudy(command, [...args, '--data-dir', await group.tempDir(command)]);
      assert.equal(await withDeadline(child.exited, 30_000, `${command} to exit`), 2, child.stderr());
      assert.match(child.stderr(), /appendonly is "no"/);
      assert.match(child.stderr(), /redis-cli CONFIG SET appendonly yes/);
      assert.match(child.stderr(), /--allow-volatile-redis/);
      assert.match(child.stderr(), /redis:\/\/:\*\*\*@127\.0\.0\.1/);
      assert.doesNotMatch(child.stderr() + child.stdout(), /s3cret-pass/);
    }
  });
});
