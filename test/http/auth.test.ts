import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openEvents, startTestService, type TestService } from './support.js';

const TOKEN = 'test-token-0123456789abcdef';

describe('with a token configured', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ token: TOKEN });
  });
  after(() => service.close());

  test('a request without the token, or with a wrong one, is a 401', async () => {
    for (const path of ['/v1/queue', '/v1/generations', '/metrics', '/openapi.json', '/docs']) {
      const none = await service.request(path);
      assert.equal(none.status, 401, path);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
    const wrong = await service.request('/v1/queue', { token: `${TOKEN}x` });
    assert.equal(wrong.status, 401);
    const post = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B' }, token: 'wrong' });
    assert.equal(post.status, 401);
    const basic = await service.request('/v1/queue', { headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
  });

  test('the right token opens every route', async () => {
    assert.equal((await service.request('/v1/queue', { token: TOKEN })).status, 200);
    const submitted = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'x' }, token: TOKEN });
    assert.equal(submitted.status, 202);
  });

  test('/healthz and /readyz answer without a token', async () => {
    assert.equal((await service.request('/healthz')).status, 200);
    assert.equal((await service.request('/readyz')).status, 200);
  });

  test('the events WebSocket needs the token too', async () => {
    await assert.rejects(openEvents(service.url), /unexpected response 401/);
    const stream = await openEvents(service.url, '', TOKEN);
    stream.close();
  });
});

describe('rate limit', () => {
  test('a client over its limit gets 429 rate_limited with Retry-After; probes are not counted', async () => {
    const service = await startTestService({ rateLimit: { max: 3, timeWindowMs: 60_000 } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await service.request('/v1/queue')).status, 200);
      const limited = await service.request('/v1/queue');
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
      assert.equal((await service.request('/healthz')).status, 200);
    } finally {
      await service.close();
    }
  });
});
