/**
 * The reference's records over HTTP, on a real server on loopback: every route answers the reference's field names
 * (camelCase, durations in seconds with a `Seconds` suffix), the old names the API documented come beside them with
 * the same values (deprecated for one release, and marked so in the OpenAPI document), and request bodies take the
 * new `maxWaitTimeSeconds` and the old `maxWaitSeconds`, refusing both when they disagree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openEvents, startTestService, waitUntil, type TestService } from './support.js';

type Json = Record<string, unknown>;

interface ErrorBody {
  error: { code: string; message: string; details?: Array<{ field: string; problem: string; received?: unknown }> };
}

/** Asserts that `record` has every one of `fields`. */
function hasFields(record: Json, fields: readonly string[], what: string): void {
  for (const field of fields) assert.ok(field in record, `${what} has ${field}: ${Object.keys(record).join(', ')}`);
}

const WAIT_FIELDS = ['modelId', 'downloadTimeSeconds', 'queuePosition', 'queueWaitTimeSeconds', 'totalWaitTimeSeconds', 'confidence', 'factors'];
const HEALTH_FIELDS = [
  'overallStatus',
  'cpuUsagePercent',
  'memoryUsagePercent',
  'vramUsagePercent',
  'gpuAvailable',
  'modelLoadingFunctional',
  'generationPipelineFunctional',
  'lastCheckTimestamp',
  'issues',
  'recommendations',
];
const SUGGESTION_FIELDS = [
  'suggestedModel',
  'compatibilityScore',
  'performanceDifference',
  'availabilityStatus',
  'reason',
  'estimatedQualityDifference',
  'capabilitiesMatch',
  'capabilitiesMissing',
  'vramRequirementGb',
  'estimatedGenerationTimeSeconds',
];
const STRATEGY_FIELDS = [
  'strategyType',
  'recommendedAction',
  'alternativeModel',
  'estimatedWaitTimeSeconds',
  'userMessage',
  'canQueueRequest',
  'confidenceScore',
  'fallbackOptions',
  'requirementsAdjustments',
];
const ATTEMPT_FIELDS = ['failureType', 'action', 'timestamp', 'success', 'errorMessage', 'recoveryTimeSeconds', 'context'];

describe("the reference's field names on every route", () => {
  let service: TestService;
  const json = async <T = Json>(path: string, init?: Parameters<TestService['request']>[1]): Promise<T> => {
    const response = await service.request(path, init);
    assert.equal(response.status, init?.method === 'POST' && path === '/v1/generations' ? 202 : 200, `${path}: ${response.status}`);
    return (await response.json()) as T;
  };
  // Slow simulated downloads keep t2v-A14B waiting for as long as a test needs.
  before(async () => {
    service = await startTestService({ simulated: { downloadMiBPerSecond: 0.04 } });
  });
  after(() => service.close());

  test('GET /v1/models/:id/wait-time answers an EstimatedWaitTime, the documented old names beside it', async () => {
    const wait = await json('/v1/models/t2v-A14B/wait-time');
    hasFields(wait, WAIT_FIELDS, 'EstimatedWaitTime');
    assert.equal(wait.modelId, 't2v-A14B');
    assert.equal(wait.queuePosition, 1);
    assert.ok((wait.downloadTimeSeconds as number) > 0, 't2v-A14B is not downloaded');
    assert.equal(wait.totalWaitTimeSeconds, (wait.downloadTimeSeconds as number) + (wait.queueWaitTimeSeconds as number));
    assert.equal(wait.estimatedSeconds, wait.totalWaitTimeSeconds);
    assert.equal(wait.downloadSeconds, wait.downloadTimeSeconds);
    assert.equal(wait.queueSeconds, wait.queueWaitTimeSeconds);
  });

  test('GET /v1/health answers a SystemHealthStatus with our extra fields, the documented old names beside it', async () => {
    const health = await json('/v1/health');
    hasFields(health, [...HEALTH_FIELDS, 'diskFreeBytes', 'vram', 'findings'], 'SystemHealthStatus');
    assert.ok(['healthy', 'degraded', 'critical'].includes(health.overallStatus as string));
    assert.equal(health.modelLoadingFunctional, true);
    assert.equal(health.generationPipelineFunctional, true);
    assert.ok(Math.abs((health.lastCheckTimestamp as number) - Date.now()) < 60_000, 'epoch milliseconds of the check');
    assert.equal(health.overall, health.overallStatus);
    assert.equal(health.cpuPercent, health.cpuUsagePercent);
    assert.equal(health.memoryPercent, health.memoryUsagePercent);
    assert.equal('checkedAt' in health, false, 'an undocumented old name is renamed outright');
  });

  test('GET /v1/models/:id/alternatives answers ModelSuggestions', async () => {
    const ranked = await json<{ suggestions: Json[] }>('/v1/models/t2v-A14B/alternatives');
    assert.ok(ranked.suggestions.length > 0);
    for (const s of ranked.suggestions) {
      hasFields(s, SUGGESTION_FIELDS, 'ModelSuggestion');
      assert.equal('estimatedGenerationSeconds' in s, false);
    }
  });

  test('POST /v1/fallback-strategy answers a FallbackStrategy; requirements take maxWaitTimeSeconds or its old name', async () => {
    const strategy = await json('/v1/fallback-strategy', { method: 'POST', json: { model: 't2v-A14B', requirements: { maxWaitTimeSeconds: 3600 } } });
    hasFields(strategy, [...STRATEGY_FIELDS, 'situation', 'model', 'waitEstimate', 'requirements', 'isPreview'], 'FallbackStrategy');
    assert.equal(strategy.strategyType, 'download_and_retry');
    assert.equal(strategy.alternativeModel, null);
    assert.equal(strategy.confidence, strategy.confidenceScore, 'the documented old name, with the same value');
    assert.equal((strategy.requirements as Json).maxWaitTimeSeconds, 3600);
    hasFields(strategy.waitEstimate as Json, WAIT_FIELDS, 'the wait behind it');

    const old = await json('/v1/fallback-strategy', { method: 'POST', json: { model: 't2v-A14B', requirements: { maxWaitSeconds: 3600 } } });
    assert.equal((old.requirements as Json).maxWaitTimeSeconds, 3600, 'the old name is the same field');
    assert.equal('maxWaitSeconds' in (old.requirements as Json), false);
    const same = await json('/v1/fallback-strategy', { method: 'POST', json: { model: 't2v-A14B', requirements: { maxWaitSeconds: 60, maxWaitTimeSeconds: 60 } } });
    assert.equal((same.requirements as Json).maxWaitTimeSeconds, 60, 'both, agreeing, are fine');

    const both = await service.request('/v1/fallback-strategy', { method: 'POST', json: { model: 't2v-A14B', requirements: { maxWaitSeconds: 60, maxWaitTimeSeconds: 90 } } });
    assert.equal(both.status, 400);
    const { error } = (await both.json()) as ErrorBody;
    assert.equal(error.code, 'invalid_request');
    assert.equal(error.details?.[0]?.field, 'requirements.maxWaitSeconds');
    assert.match(error.details?.[0]?.problem ?? '', /maxWaitSeconds \(60\) and maxWaitTimeSeconds \(90\) disagree/);
  });

  test("POST and GET /v1/generations: the plan is a FallbackStrategy with the documented old names beside it", async () => {
    const accepted = await json<{ id: string; plan: Json }>('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a lighthouse', maxWaitTimeSeconds: 600 } });
    for (const plan of [accepted.plan, (await json<{ plan: Json }>(`/v1/generations/${accepted.id}`)).plan]) {
      hasFields(plan, [...STRATEGY_FIELDS, 'situation', 'model', 'isPreview'], 'plan');
      assert.equal(plan.strategyType, 'as_requested');
      assert.equal(plan.strategy, plan.strategyType);
      assert.equal(plan.confidence, plan.confidenceScore);
      assert.equal(plan.estimatedWaitSeconds, plan.estimatedWaitTimeSeconds);
      assert.equal(plan.recommendedAction, 'run ti2v-5B as requested');
      assert.equal(plan.canQueueRequest, true);
    }
    const job = await json<{ requirements: Json }>(`/v1/generations/${accepted.id}`);
    assert.equal(job.requirements.maxWaitTimeSeconds, 600);
  });

  test('POST /v1/generations takes maxWaitSeconds as the old name of maxWaitTimeSeconds; both disagreeing is a 400 that stores nothing', async () => {
    const old = await json<{ id: string }>('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'x', maxWaitSeconds: 1800 } });
    const job = await json<{ requirements: Json; deadline: number; createdAt: number }>(`/v1/generations/${old.id}`);
    assert.equal(job.requirements.maxWaitTimeSeconds, 1800);
    assert.equal(job.deadline, job.createdAt + 1_800_000, 'the old name sets the same deadline');
    await service.request(`/v1/generations/${old.id}`, { method: 'DELETE' });

    const before = ((await json<{ total: number }>('/v1/generations?limit=1')).total);
    const both = await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'x', maxWaitSeconds: 60, maxWaitTimeSeconds: 90 } });
    assert.equal(both.status, 400);
    const { error } = (await both.json()) as ErrorBody;
    assert.equal(error.code, 'invalid_request');
    assert.equal(error.details?.[0]?.field, 'maxWaitSeconds');
    assert.match(error.details?.[0]?.problem ?? '', /maxWaitSeconds \(60\) and maxWaitTimeSeconds \(90\) disagree; give one of them/);
    assert.equal((await json<{ total: number }>('/v1/generations?limit=1')).total, before, 'nothing stored');

    const bad = await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'x', maxWaitSeconds: -1 } });
    assert.equal(bad.status, 400, 'the old name is validated as the new one');
    assert.equal(((await bad.json()) as ErrorBody).error.details?.[0]?.field, 'maxWaitTimeSeconds');
  });

  test('the OpenAPI document lists the new names, and the old ones marked deprecated', async () => {
    type Schema = { properties: Record<string, { deprecated?: boolean; description?: string; properties?: Record<string, { deprecated?: boolean }> }>; required?: string[] };
    type Op = { requestBody?: { content: Record<string, { schema: Schema }> }; responses: Record<string, { content?: Record<string, { schema: Schema }> }> };
    const doc = await json<{ info: { version: string }; paths: Record<string, Record<string, Op>> }>('/openapi.json');
    assert.equal(doc.info.version, '1.1.0');
    const response = (path: string, method: string, status = '200'): Schema => doc.paths[path]![method]!.responses[status]!.content!['application/json']!.schema;
    const deprecated = (schema: Schema, fields: readonly string[]): string[] => fields.filter((f) => schema.properties[f]?.deprecated === true);

    const body = doc.paths['/v1/generations']!.post!.requestBody!.content['application/json']!.schema;
    assert.equal(body.properties.maxWaitTimeSeconds?.deprecated, undefined);
    assert.equal(body.properties.maxWaitSeconds?.deprecated, true);
    assert.match(body.properties.maxWaitSeconds?.description ?? '', /old name of maxWaitTimeSeconds/);
    const strategyBody = doc.paths['/v1/fallback-strategy']!.post!.requestBody!.content['application/json']!.schema;
    assert.equal(strategyBody.properties.requirements?.properties?.maxWaitSeconds?.deprecated, true);

    const wait = response('/v1/models/{id}/wait-time', 'get');
    hasFields(wait.properties, WAIT_FIELDS, 'wait-time schema');
    assert.deepEqual(deprecated(wait, Object.keys(wait.properties)), ['estimatedSeconds', 'downloadSeconds', 'queueSeconds']);
    const health = response('/v1/health', 'get');
    hasFields(health.properties, HEALTH_FIELDS, 'health schema');
    assert.deepEqual(deprecated(health, Object.keys(health.properties)), ['overall', 'cpuPercent', 'memoryPercent']);
    const strategy = response('/v1/fallback-strategy', 'post');
    hasFields(strategy.properties, STRATEGY_FIELDS, 'strategy schema');
    assert.deepEqual(deprecated(strategy, Object.keys(strategy.properties)), ['confidence']);
    const plan = response('/v1/generations', 'post', '202').properties.plan as unknown as Schema;
    hasFields(plan.properties, STRATEGY_FIELDS, 'plan schema');
    assert.deepEqual(deprecated(plan, Object.keys(plan.properties)), ['strategy', 'confidence', 'estimatedWaitSeconds']);
    const alternatives = response('/v1/models/{id}/alternatives', 'get').properties.suggestions as unknown as { items: Schema };
    hasFields(alternatives.items.properties, SUGGESTION_FIELDS, 'suggestion schema');
  });
});

describe('RecoveryAttempt over the event stream and on the timeline', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ simulated: { faultProbabilities: { oom: 1 } } });
  });
  after(() => service.close());

  test('each recovery_attempt event carries the reference fields; the timeline entry its duration in seconds', async () => {
    const events = await openEvents(service.url);
    try {
      const accepted = (await (
        await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a storm', allowAlternatives: false, allowQualityReduction: false } })
      ).json()) as { id: string };
      const event = await events.waitFor((e) => e.type === 'recovery_attempt', 30_000);
      const attempt = (event as unknown as { attempt: Json }).attempt;
      hasFields(attempt, [...ATTEMPT_FIELDS, 'endedAt', 'errorKind'], 'RecoveryAttempt');
      assert.equal(attempt.failureType, 'vram_exhaustion');
      assert.equal(typeof attempt.timestamp, 'number');
      assert.equal(attempt.recoveryTimeSeconds, ((attempt.endedAt as number) - (attempt.timestamp as number)) / 1000);
      for (const old of ['startedAt', 'error', 'durationMs']) assert.equal(old in attempt, false, old);

      // The job's timeline records the attempt with its duration in seconds, once the runner has written it.
      const entry = await waitUntil(
        async () => {
          const job = (await (await service.request(`/v1/generations/${accepted.id}`)).json()) as { timeline: Array<{ kind: string; data?: Json }> };
          return job.timeline.find((e) => e.kind === 'recovery_attempt');
        },
        30_000,
        'a recovery_attempt entry on the timeline',
      );
      assert.equal(typeof entry.data?.recoveryTimeSeconds, 'number');
    } finally {
      events.close();
    }
  });
});
