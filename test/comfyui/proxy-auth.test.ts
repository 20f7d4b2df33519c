// A ComfyUI behind an authenticating proxy (nginx basic auth, Cloudflare Access, a bearer token): headers per
// instance on every request and the WebSocket upgrade, URL credentials turned into basic auth, environment values,
// 401s that say what to check, and secrets that never show in a label, error, event or progress message.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { ComfyUiBackend } from '../../src/adapters/comfyui/comfyui-backend.js';
import type { ComfyUiConfigInput } from '../../src/adapters/comfyui/comfyui-config.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import type { BackendEvent } from '../../src/runtime/backend.js';
import { FAKE_VIDEO_BYTES, FakeComfyUi } from './fake-comfyui.js';
import { LIMIT, ManualClock, rejection, request, start, tempDir } from './helpers.js';

const PASSWORD = 'pa:ss wörd/1';
const TOKEN = 'tok-3f9a-secret';
const BASIC = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;

async function behindProxy(t: TestContext, requiredHeaders: Record<string, string>, config: (fake: FakeComfyUi) => ComfyUiConfigInput, env: Record<string, string> = {}) {
  const fake = await FakeComfyUi.start({ requiredHeaders });
  t.after(() => fake.close());
  const backend = await ComfyUiBackend.create({ id: 'proxied', reconnect: { attempts: 1 }, ...config(fake) }, { clock: new ManualClock(), env });
  const events: BackendEvent[] = [];
  backend.onEvent((event) => events.push(event));
  return { fake, backend, events, outputDir: await tempDir('auth') };
}

function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

test('user:password@ in the URL is sent as basic auth on every request and the WebSocket upgrade, never as part of the URL', LIMIT, async (t) => {
  const { fake, backend, outputDir } = await behindProxy(t, { authorization: BASIC }, (f) => ({ url: withCredentials(f.url, 'admin', PASSWORD) }));
  const output = await start(backend, request(outputDir)).promise;
  assert.deepEqual(await readFile(output.path), FAKE_VIDEO_BYTES);
  assert.equal(fake.refusedUpgrades, 0);
  assert.ok(fake.requests.length > 3);
  assert.ok(fake.requests.every((r) => r.headers.authorization === BASIC));
  assert.equal(backend.client.label, `ComfyUI at ${fake.url}`);
});

test('headers per instance, with values from environment variables, reach HTTP and WebSocket', LIMIT, async (t) => {
  const required = { 'cf-access-client-id': 'client.access', 'cf-access-client-secret': TOKEN };
  const { fake, backend, outputDir } = await behindProxy(
    t,
    required,
    (f) => ({ url: f.url, headers: { 'CF-Access-Client-Id': 'client.access', 'CF-Access-Client-Secret': { env: 'COMFY_CF_SECRET' } } }),
    { COMFY_CF_SECRET: TOKEN },
  );
  await start(backend, request(outputDir)).promise;
  assert.equal(fake.refusedUpgrades, 0);
  assert.ok(fake.requests.every((r) => r.headers['cf-access-client-secret'] === TOKEN));
});

test('a query in the URL (?token=) is added to every request instead of being glued before the route', LIMIT, async (t) => {
  const fake = await FakeComfyUi.start();
  t.after(() => fake.close());
  const backend = await ComfyUiBackend.create({ url: `${fake.url}/?token=${TOKEN}` }, { clock: new ManualClock() });
  await start(backend, request(await tempDir('query'))).promise;
  assert.ok(fake.requestsTo('POST', '/prompt').length === 1, JSON.stringify(fake.requests.map((r) => r.path)));
  assert.equal(backend.client.label, `ComfyUI at ${fake.url}?…`);
});

test('wrong credentials: 401 from the proxy is not retryable, says to check the credentials and shows no secret', LIMIT, async (t) => {
  const { fake, backend, events, outputDir } = await behindProxy(t, { authorization: 'Bearer right-one' }, (f) => ({
    url: withCredentials(f.url, 'admin', PASSWORD),
  }));
  const { promise, progress } = start(backend, request(outputDir));
  const error = await rejection(promise);
  assert.match(error.message, /HTTP 401 Unauthorized.*the proxy in front of it refused the credentials; check "headers" and the user:password of the URL/);
  const classification = classifyFailure(error);
  assert.equal(classification.retryable, false);
  assert.equal(classification.evidence.rule, 'http_unauthorized');
  assert.ok(fake.refusedUpgrades >= 1, 'the WebSocket upgrade carried the credentials and was refused');

  const statuses = await backend.installedModels();
  const health = await backend.checkHealth(new AbortController().signal);
  assert.equal(health.healthy, false);
  const texts = [
    error.message,
    String(error.stack),
    JSON.stringify(error),
    JSON.stringify(classification),
    JSON.stringify(events),
    JSON.stringify(progress),
    JSON.stringify(statuses),
    health.reason ?? '',
    backend.client.label,
  ].join('\n');
  for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), BASIC, Buffer.from(`admin:${PASSWORD}`).toString('base64')]) {
    assert.equal(texts.includes(secret), false, `"${secret}" appears in: ${texts}`);
  }
});

test('config errors never echo a header value or URL credentials; an unset environment variable is named', async () => {
  const clock = new ManualClock();
  const missing = await rejection(ComfyUiBackend.create({ headers: { Authorization: { env: 'COMFY_TOKEN_UNSET' } } }, { clock, env: {} }));
  assert.match(missing.message, /headers\.Authorization: expected the environment variable COMFY_TOKEN_UNSET to be set/);

  const badValue = await rejection(ComfyUiBackend.create({ headers: { Authorization: `Bearer ${TOKEN}\nX-Evil: 1` } }, { clock }));
  assert.match(badValue.message, /headers\.Authorization: /);
  assert.equal(badValue.message.includes(TOKEN), false, badValue.message);

  const twice = await rejection(ComfyUiBackend.create({ url: `http://admin:${TOKEN}@127.0.0.1:8188`, headers: { authorization: 'Bearer x' } }, { clock }));
  assert.match(twice.message, /url: gives user:password@ and headers give an Authorization header too/);
  assert.equal(twice.message.includes(TOKEN), false, twice.message);

  const badUrl = await rejection(ComfyUiBackend.create({ url: `ftp://admin:${TOKEN}@127.0.0.1:8188` }, { clock }));
  assert.match(badUrl.message, /url: expected an http or https URL/);
  assert.equal(badUrl.message.includes(TOKEN), false, badUrl.message);
});
