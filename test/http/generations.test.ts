import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openEvents, startTestService, waitForFinal, type TestService } from './support.js';

interface ErrorBody {
  error: { code: string; message: string; details?: Array<{ field: string; problem: string; received?: unknown }> };
}

// A 1x1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('generations', () => {
  let service: TestService;
  // Downloads of about 10 min (honestly estimated, so under the 30 min download_and_retry limit) keep t2v-A14B and
  // i2v-A14B jobs waiting for as long as a test needs.
  before(async () => {
    service = await startTestService({ simulated: { downloadMiBPerSecond: 0.04 }, limits: { maxPromptLength: 100, maxImageBytes: 1024 } });
  });
  after(() => service.close());

  test('POST answers 202 with the plan, its reasons and the queue position, and a Location', async () => {
    const response = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a lighthouse at dusk' } });
    assert.equal(response.status, 202);
    const body = (await response.json()) as Record<string, unknown> & { plan: Record<string, unknown> };
    assert.equal(response.headers.get('location'), `/v1/generations/${body.id as string}`);
    assert.equal(body.status, 'queued');
    assert.equal(body.queuePosition, 1);
    assert.equal(body.plan.strategyType, 'as_requested');
    assert.equal(body.plan.model, 'ti2v-5B');
    for (const key of ['confidenceScore', 'userMessage', 'estimatedWaitTimeSeconds', 'requirementsAdjustments', 'fallbackOptions']) assert.ok(key in body.plan, key);
    const estimate = body.estimate as { estimatedAt: number; startAt: number; resultAt: number; confidence: string };
    assert.ok(estimate.resultAt > estimate.estimatedAt && estimate.startAt <= estimate.resultAt, 'the first promise comes with the 202');
    await waitForFinal(service, body.id as string);
    const done = (await (await service.request(`/v1/generations/${body.id as string}`)).json()) as { estimate: unknown; timeline: Array<{ kind: string; data?: Record<string, unknown> }> };
    assert.equal(done.estimate, null, 'a finished job has no current estimate');
    const promises = done.timeline.filter((e) => e.kind === 'estimate');
    assert.equal(promises[0]?.data?.first, true, 'the timeline keeps the first promise');
    assert.equal(typeof promises.at(-1)?.data?.actualAt, 'number', 'and the final truth');
  });

  test('a missing model is planned around: the plan names the download and why the alternative lost', async () => {
    const response = await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'a red fox' } });
    assert.equal(response.status, 202);
    const body = (await response.json()) as { id: string; status: string; queuePosition: number | null; plan: { strategyType: string; fallbackOptions: Array<{ type: string; chosen: boolean; whyNot?: string }> } };
    assert.equal(body.plan.strategyType, 'download_and_retry');
    assert.equal(body.status, 'waiting_for_model');
    assert.equal(body.queuePosition, null);
    assert.ok(body.plan.fallbackOptions.some((o) => !o.chosen && o.whyNot));
    const view = (await (await service.request(`/v1/generations/${body.id}`)).json()) as { estimate: { estimatedAt: number; startAt: number; factors: string[] } };
    assert.ok(view.estimate.startAt > view.estimate.estimatedAt, 'GET shows when the waiting job should start');
    assert.match(view.estimate.factors.join('; '), /download/);
    await service.request(`/v1/generations/${body.id}`, { method: 'DELETE' });
  });

  test('invalid input answers 400 naming each field, what is allowed and the value received', async () => {
    const response = await service.request('/v1/generations', {
      method: 'POST',
      json: { model: 't2v-A14B', prompt: 'x', numFrames: 0, quality: 'ultra', resolution: 'big' },
    });
    assert.equal(response.status, 400);
    const { error } = (await response.json()) as ErrorBody;
    assert.equal(error.code, 'invalid_request');
    const fields = Object.fromEntries(error.details!.map((d) => [d.field, d]));
    assert.deepEqual(Object.keys(fields).sort(), ['numFrames', 'quality', 'resolution']);
    assert.equal(fields.numFrames!.received, 0);
    assert.match(fields.quality!.problem, /low|medium|high/);
    assert.match(fields.resolution!.problem, /WIDTHxHEIGHT/);
    assert.doesNotMatch(JSON.stringify(error), /at .*\.ts:\d+/, 'no stack trace');
  });

  test('an unknown model, a missing model field, an image for a text-only model and a misspelt field are 400s on their field', async () => {
    const cases: Array<[unknown, string]> = [
      [{ model: 'sora', prompt: 'x' }, 'model'],
      [{ prompt: 'x' }, 'model'],
      [{ model: 't2v-A14B', prompt: 'x', image: `data:image/png;base64,${PNG}` }, 'image'],
      [{ model: 't2v-A14B', prompt: 'x', numFrame: 81 }, 'numFrame'],
    ];
    for (const [json, field] of cases) {
      const response = await service.request('/v1/generations', { method: 'POST', json });
      assert.equal(response.status, 400, JSON.stringify(json));
      const { error } = (await response.json()) as ErrorBody;
      assert.ok(error.details!.some((d) => d.field === field), `${field} in ${JSON.stringify(error.details)}`);
    }
    const misspelt = await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'x', numFrame: 81 } });
    const { error } = (await misspelt.json()) as ErrorBody;
    assert.deepEqual(error.details, [{ field: 'numFrame', problem: 'unknown field: not one this accepts (check the spelling)', received: 81 }]);
  });

  test('prompt length, image size and image type are limited', async () => {
    const long = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'x'.repeat(101) } });
    assert.equal(long.status, 400);
    assert.equal(((await long.json()) as ErrorBody).error.details![0]!.field, 'prompt');

    const big = `data:image/png;base64,${Buffer.alloc(2048).toString('base64')}`;
    const large = await service.request('/v1/generations', { method: 'POST', json: { model: 'i2v-A14B', image: big } });
    assert.equal(large.status, 400);
    assert.match(JSON.stringify(await large.json()), /at most 1024 bytes/);

    const gif = await service.request('/v1/generations', { method: 'POST', json: { model: 'i2v-A14B', image: 'data:image/gif;base64,R0lGODlhAQABAAAAACw=' } });
    assert.equal(gif.status, 400);
    assert.match(JSON.stringify(await gif.json()), /PNG, JPEG or WebP/);
  });

  test('a body that is not JSON is a 400, one over the body limit a 413', async () => {
    const bad = await service.request('/v1/generations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as ErrorBody).error.code, 'invalid_json');

    const limited = await startTestService({ bodyLimitBytes: 2048 });
    try {
      const response = await limited.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'x'.repeat(4096) } });
      assert.equal(response.status, 413);
      assert.equal(((await response.json()) as ErrorBody).error.code, 'body_too_large');
    } finally {
      await limited.close();
    }
  });

  test('a plan that nothing allowed can deliver is a 422 with every option and why', async () => {
    const response = await service.request('/v1/generations', {
      method: 'POST',
      json: { model: 't2v-A14B', prompt: 'x', allowAlternatives: false, allowMock: false, maxWaitTimeSeconds: 1 },
    });
    assert.equal(response.status, 422);
    const { error } = (await response.json()) as ErrorBody & { error: { plan: { strategyType: string; fallbackOptions: unknown[] } } };
    assert.equal(error.code, 'plan_rejected');
    assert.equal(error.plan.strategyType, 'reject');
    assert.ok(error.plan.fallbackOptions.length > 0);
  });

  test('GET by id shows status, plan, attempts, progress, output and timeline; an unknown id is a 404', async () => {
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'waves' } })).json()) as { id: string };
    const job = await waitForFinal(service, accepted.id);
    assert.equal(job.status, 'succeeded');
    for (const key of ['plan', 'attempts', 'timeline', 'progress', 'output']) assert.ok(key in job, key);
    assert.ok((job.timeline as unknown[]).length >= 3);
    assert.ok(!JSON.stringify(job).includes(service.dataDir), 'the generation names no path on the server disk');

    const missing = await service.request('/v1/generations/no-such-job');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as ErrorBody).error.code, 'not_found');
  });

  test('the output file is served with its content type', async () => {
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a kite' } })).json()) as { id: string };
    const job = (await waitForFinal(service, accepted.id)) as { output: { url: string; mediaType: string; sizeBytes: number; isPreview: boolean } };
    const response = await service.request(job.output.url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), job.output.mediaType);
    assert.equal(response.headers.get('x-understudy-preview'), String(job.output.isPreview));
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes.length, job.output.sizeBytes);
    assert.equal(bytes.subarray(0, 3).toString('latin1'), 'GIF');
  });

  test('DELETE cancels a waiting generation; cancelling it again is a 409; its output is a 409', async () => {
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'snow' } })).json()) as { id: string };
    const noOutput = await service.request(`/v1/generations/${accepted.id}/output`);
    assert.equal(noOutput.status, 409);
    assert.equal(((await noOutput.json()) as ErrorBody).error.code, 'no_output');

    const cancelled = await service.request(`/v1/generations/${accepted.id}`, { method: 'DELETE' });
    assert.equal(cancelled.status, 200);
    assert.equal(((await cancelled.json()) as { status: string }).status, 'cancelled');
    const again = await service.request(`/v1/generations/${accepted.id}`, { method: 'DELETE' });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as ErrorBody).error.code, 'conflict');
    assert.equal((await service.request('/v1/generations/no-such-job', { method: 'DELETE' })).status, 404);
  });

  test('GET lists generations filtered by status, a page at a time', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: `p${i}` } })).json()) as { id: string };
      ids.push(body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?status=waiting_for_model&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await (await service.request(`/v1/generations${query}`)).json()) as { generations: Array<{ id: string; status: string }>; total: number; nextCursor: string | null };
      assert.ok(page.generations.length <= 2);
      assert.ok(page.generations.every((g) => g.status === 'waiting_for_model'));
      assert.ok(page.total >= 3);
      seen.push(...page.generations.map((g) => g.id));
      cursor = page.nextCursor;
    } while (cursor);
    for (const id of ids) assert.ok(seen.includes(id));

    const bad = await service.request('/v1/generations?status=sleeping&limit=0');
    assert.equal(bad.status, 400);
    const fields = ((await bad.json()) as ErrorBody).error.details!.map((d) => d.field).sort();
    assert.deepEqual(fields, ['limit', 'status']);
    const badCursor = await service.request('/v1/generations?cursor=abc');
    assert.equal(badCursor.status, 400);
    assert.deepEqual(((await badCursor.json()) as ErrorBody).error.details!.map((d) => d.field), ['cursor']);
    for (const id of ids) await service.request(`/v1/generations/${id}`, { method: 'DELETE' });
  });

  test('the events of a generation reach a WebSocket filtered by its id, and no others', async () => {
    const stream = await openEvents(service.url, '');
    const first = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'one' } })).json()) as { id: string };
    await stream.waitFor((e) => e.type === 'job.accepted' && e.jobId === first.id);
    stream.close();

    const filtered = await openEvents(service.url, `?jobId=${first.id}`);
    const other = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'two' } })).json()) as { id: string };
    await filtered.waitFor((e) => e.type === 'job.succeeded' && e.jobId === first.id);
    await waitForFinal(service, other.id);
    assert.ok(filtered.events.some((e) => e.type === 'job.progress'));
    assert.ok(!JSON.stringify(filtered.events).includes(service.dataDir), 'events name no path on the server disk');
    assert.ok(filtered.events.every((e) => !('jobId' in e) || e.jobId === first.id), 'only events of the job asked for');
    filtered.close();

    await assert.rejects(openEvents(service.url, '?bogus=1'), /unexpected response 400/);
  });
});

describe('a full queue', () => {
  test('answers 429 with Retry-After', async () => {
    const service = await startTestService({ maxQueueSize: 1, simulated: { downloadMiBPerSecond: 0.04 } });
    try {
      const first = await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'one' } });
      assert.equal(first.status, 202);
      const second = await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'two' } });
      assert.equal(second.status, 429);
      assert.ok(Number(second.headers.get('retry-after')) >= 1);
      const { error } = (await second.json()) as ErrorBody & { error: { maxSize: number } };
      assert.equal(error.code, 'queue_full');
      assert.equal(error.maxSize, 1);
    } finally {
      await service.close();
    }
  });
});
