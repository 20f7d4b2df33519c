import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestService, waitForFinal, type TestService } from './support.js';

interface ErrorBody {
  error: { code: string; message: string; details?: Array<{ field: string; problem: string }> };
}

describe('models, strategies, queue, health, recovery, metrics and docs', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ simulated: { downloadMiBPerSecond: 0.04 } });
  });
  after(() => service.close());

  const json = async <T>(path: string, init?: Parameters<TestService['request']>[1]): Promise<T> => {
    const response = await service.request(path, init);
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    return (await response.json()) as T;
  };

  test('GET /v1/models lists the catalog with availability', async () => {
    const models = await json<Array<{ id: string; status: string; capabilities: string[]; download: unknown }>>('/v1/models');
    assert.deepEqual(models.map((m) => m.id).sort(), ['i2v-A14B', 't2v-A14B', 'ti2v-5B']);
    assert.equal(models.find((m) => m.id === 'ti2v-5B')!.status, 'available');
    assert.equal(models.find((m) => m.id === 't2v-A14B')!.status, 'missing');
  });

  test('alternatives are ranked for the requirements in the query; an image request never goes to a text-only model', async () => {
    const ranked = await json<{ requestedModel: string; suggestions: Array<{ suggestedModel: string }>; excluded: Array<{ model: string; reason: string }> }>(
      '/v1/models/i2v-A14B/alternatives?image=true&quality=high&resolution=1280x720',
    );
    assert.equal(ranked.requestedModel, 'i2v-A14B');
    assert.ok(ranked.suggestions.every((s) => s.suggestedModel !== 't2v-A14B'));
    assert.match(ranked.excluded.find((e) => e.model === 't2v-A14B')!.reason, /image/);

    const bad = await service.request('/v1/models/i2v-A14B/alternatives?quality=ultra&image=maybe');
    assert.equal(bad.status, 400);
    assert.deepEqual(((await bad.json()) as ErrorBody).error.details!.map((d) => d.field).sort(), ['image', 'quality']);
    const unknown = await service.request('/v1/models/sora/alternatives');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as ErrorBody).error.code, 'model_not_found');
  });

  test('wait-time estimates a download with its reasons', async () => {
    const wait = await json<{ modelId: string; totalWaitTimeSeconds: number; confidence: string; factors: string[] }>('/v1/models/t2v-A14B/wait-time');
    assert.equal(wait.modelId, 't2v-A14B');
    assert.ok(wait.totalWaitTimeSeconds > 0);
    assert.ok(wait.factors.length > 0);
    assert.equal((await service.request('/v1/models/sora/wait-time')).status, 404);
  });

  test('POST /v1/fallback-strategy answers the plan for a failure, and 400 on an unknown model', async () => {
    const strategy = await json<{ strategyType: string; situation: string; userMessage: string }>('/v1/fallback-strategy', {
      method: 'POST',
      json: { model: 'ti2v-5B', failureType: 'vram_exhaustion', errorMessage: 'CUDA out of memory', requirements: { resolution: '1920x1080' } },
    });
    assert.equal(strategy.situation, 'vram_exhaustion');
    assert.ok(strategy.userMessage.length > 0);

    const bad = await service.request('/v1/fallback-strategy', { method: 'POST', json: { model: 'sora', failureType: 'meltdown' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(((await bad.json()) as ErrorBody).error.details!.map((d) => d.field), ['failureType']);
    const unknown = await service.request('/v1/fallback-strategy', { method: 'POST', json: { model: 'sora' } });
    assert.equal(unknown.status, 400);
    assert.equal(((await unknown.json()) as ErrorBody).error.details![0]!.field, 'model');
  });

  test('GET /v1/queue counts waiting jobs by model, and follows every change', async () => {
    type Queue = { totalQueuedRequests: number; queueByModel: Record<string, number>; maxQueueSize: number; queueUtilization: number };
    assert.deepEqual(await json<Queue>('/v1/queue'), { totalQueuedRequests: 0, queueByModel: {}, maxQueueSize: 100, queueUtilization: 0 });
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'x' } })).json()) as { id: string };
    const queue = await json<Queue>('/v1/queue');
    assert.equal(queue.queueByModel['t2v-A14B'], 1);
    assert.equal(queue.totalQueuedRequests, 1);
    assert.equal(queue.queueUtilization, 1);
    await service.request(`/v1/generations/${accepted.id}`, { method: 'DELETE' });
    assert.equal((await json<Queue>('/v1/queue')).totalQueuedRequests, 0);
  });

  test('GET /v1/health checks the machine; recovery stats and reset answer statistics', async () => {
    const health = await json<{ overallStatus: string; lastCheckTimestamp: number }>('/v1/health');
    assert.ok(['healthy', 'degraded', 'critical'].includes(health.overallStatus));
    const stats = await json<{ totalAttempts: number; successRate: number }>('/v1/recovery/stats');
    assert.equal(typeof stats.totalAttempts, 'number');
    const reset = await json<{ totalAttempts: number; mockModeActive: boolean }>('/v1/recovery/reset', { method: 'POST' });
    assert.equal(reset.totalAttempts, 0);
    assert.equal(reset.mockModeActive, false);
  });

  test('GET /metrics is Prometheus text with every metric family', async () => {
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'x' } })).json()) as { id: string };
    await waitForFinal(service, accepted.id);
    // The job's end reaches the metrics by its event, just after the store shows it: read until the event counted.
    let response: Response;
    let text: string;
    const until = Date.now() + 5000;
    do {
      response = await service.request('/metrics');
      text = await response.text();
    } while (!text.includes('outcome="succeeded"') && Date.now() < until);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    for (const name of [
      'understudy_jobs{state="succeeded"} ',
      'understudy_queue_depth',
      'understudy_queue_max_size 100',
      'understudy_plan_decisions_total{strategy="as_requested",situation="available"}',
      'understudy_planning_duration_seconds_bucket',
      'understudy_recovery_attempts_total',
      'understudy_job_duration_seconds_bucket{le="5",outcome="succeeded"}',
      'understudy_health_level',
      'understudy_gpu_available',
      'understudy_process_cpu_seconds_total',
    ]) {
      assert.ok(text.includes(name), name);
    }
  });

  test('/openapi.json is an OpenAPI 3.1 document generated from the request schemas; /docs renders it', async () => {
    const doc = await json<{ openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required: string[] } }> } }>> }>(
      '/openapi.json',
    );
    assert.equal(doc.openapi, '3.1.0');
    for (const path of ['/v1/generations', '/v1/generations/{id}', '/v1/generations/{id}/output', '/v1/models', '/v1/models/{id}/alternatives', '/v1/models/{id}/wait-time', '/v1/fallback-strategy', '/v1/queue', '/v1/health', '/v1/recovery/stats', '/v1/recovery/reset', '/v1/events', '/metrics', '/healthz', '/readyz']) {
      assert.ok(doc.paths[path], path);
    }
    const body = doc.paths['/v1/generations']!.post!.requestBody!.content['application/json']!.schema;
    assert.deepEqual(body.required, ['model']);
    for (const field of ['prompt', 'image', 'resolution', 'quality', 'numFrames', 'maxWaitTimeSeconds', 'allowMock']) assert.ok(field in body.properties, field);

    const docs = await service.request('/docs');
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-type') ?? '', /^text\/html/);
    const html = await docs.text();
    assert.match(html, /\/v1\/generations\/\{id\}\/output/);
    assert.match(html, /maxWaitTimeSeconds/);
  });

  test('GET /v1/workers shows this process as the one worker of the embedded store, with its backend', async () => {
    const { workers } = await json<{ workers: Array<{ workerId: string; backends: Array<{ backendId: string; slots: number; busy: number; installed: string[]; vramTotalGb: number }> }> }>('/v1/workers');
    assert.equal(workers.length, 1);
    const [backend] = workers[0]!.backends;
    assert.equal(backend!.backendId, 'simulated-gpu');
    assert.equal(backend!.slots, 1);
    assert.deepEqual(backend!.installed, ['ti2v-5B']);
    assert.equal(backend!.vramTotalGb, 24);
  });

  test('/healthz and /readyz answer; an unknown route is a JSON 404', async () => {
    assert.deepEqual(await json('/healthz'), { status: 'ok' });
    assert.deepEqual(await json('/readyz'), {
      status: 'ready',
      store: { kind: 'sqlite', location: 'understudy.db in the data dir', reachable: true, volatile: false, problems: [] },
    });
    const missing = await service.request('/v2/nothing');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as ErrorBody).error.code, 'route_not_found');
  });
});
