/**
 * Property-based test of the whole HTTP surface: fast-check generates requests (every route, bodies of every JSON
 * type, deep nesting, prototype keys, bad unicode and bytes, wrong content types, odd query strings and headers) and
 * sends them to the real server on loopback. Whatever arrives: no 5xx, no stack trace or server path in an answer,
 * every 202 is a job that exists, a rejected request stores nothing, and the server stays up.
 *
 * Seeded: FUZZ_SEED=<n> replays a run (fast-check prints the seed and the shrunk counterexample on failure);
 * FUZZ_RUNS=<n> changes the number of requests.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { startTestService, type TestService } from './support.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);

let service: TestService;

before(async () => {
  service = await startTestService({ maxQueueSize: 1000 });
});

after(async () => {
  await service.close();
});

/** A generated request, before it is sent. */
interface FuzzRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  path: string;
  query: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

const MODELS = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
/** A 1×1 PNG, so that some generated requests carry a real image. */
const PNG_DATA_URL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/** Strings users and attackers send: odd unicode, lone surrogates, paths, prototype names, huge and empty. */
const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', ' ', '\u0000', '\ud800', '\udfff\ud800', '../../etc/passwd', '%00', '%ZZ', '__proto__', 'constructor',
    'prototype', 'NaN', '-1', '1e309', '0x10', 'null', 'true', '😀'.repeat(50), 'a'.repeat(5000)),
  fc.constantFrom(...MODELS),
);

/** Any JSON value, with the keys an attacker would try. */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.constantFrom(0, -0, 1e308, -1, 2 ** 53, 4294967296),
    oddString,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(oddString, fc.constantFrom('__proto__', 'constructor', 'model', 'prompt')), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** A generation body close to a valid one, with some fields mutated, so the accepting path is exercised too. */
const generationBody = fc.record(
  {
    model: fc.oneof(fc.constantFrom(...MODELS), oddString),
    prompt: fc.oneof(fc.string({ maxLength: 40 }), jsonValue),
    negativePrompt: fc.oneof(fc.string({ maxLength: 20 }), jsonValue),
    image: fc.oneof(fc.constant(PNG_DATA_URL), fc.constant('data:image/png;base64,'), oddString),
    resolution: fc.oneof(fc.constantFrom('1280x720', '1920x1080', '640x640', '0x0', '99999x99999'), oddString),
    quality: fc.oneof(fc.constantFrom('low', 'medium', 'high'), oddString),
    speed: fc.oneof(fc.constantFrom('fast', 'medium', 'slow'), oddString),
    numFrames: fc.oneof(fc.integer({ min: -5, max: 2000 }), jsonValue),
    steps: fc.oneof(fc.integer({ min: -5, max: 600 }), jsonValue),
    seed: fc.oneof(fc.integer({ min: -1, max: 2 ** 32 }), fc.double()),
    priority: fc.oneof(fc.constantFrom('critical', 'high', 'normal', 'low'), oddString),
    maxWaitTimeSeconds: fc.oneof(fc.double(), fc.integer()),
    maxWaitSeconds: fc.oneof(fc.double(), fc.integer(), jsonValue),
    allowAlternatives: fc.oneof(fc.boolean(), jsonValue),
    allowQualityReduction: fc.boolean(),
    allowMock: fc.boolean(),
    failureType: fc.constantFrom('vram_exhaustion', 'network_error', 'nonsense'),
  },
  { requiredKeys: [] },
);

/** Nesting deeper than any parser should be asked to recurse through. */
const deepBody = fc.integer({ min: 100, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth));

const encoder = new TextEncoder();

/** Percent-encodes the UTF-8 bytes of `text` (lone surrogates become U+FFFD, as a browser would send them). */
function percentEncode(text: string): string {
  return Array.from(encoder.encode(text), (byte) =>
    /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`,
  ).join('');
}

const body: fc.Arbitrary<Uint8Array | undefined> = fc.oneof(
  fc.constant(undefined),
  generationBody.map((b) => encoder.encode(JSON.stringify(b))),
  jsonValue.map((v) => encoder.encode(JSON.stringify(v) ?? 'undefined')),
  deepBody.map((s) => encoder.encode(s)),
  fc.constantFrom('{"__proto__":{"polluted":true},"model":"ti2v-5B"}', '{"constructor":{"prototype":{"x":1}}}', '{"model":"\\ud800"}',
    '{', '{"model":', 'null', '""', '[]', '{"model":"ti2v-5B",}', '\ufeff{"model":"ti2v-5B"}').map((s) => encoder.encode(s)),
  fc.uint8Array({ maxLength: 64 }),
);

const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json;;;',
    'application/merge-patch+json', ''),
  fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
);

const idSegment = fc.oneof(fc.constantFrom(...MODELS), fc.uuid(), oddString.map((s) => percentEncode(s.slice(0, 300))));

const path = fc.oneof(
  fc.constantFrom('/v1/generations', '/v1/models', '/v1/fallback-strategy', '/v1/queue', '/v1/health', '/v1/recovery/stats',
    '/v1/recovery/reset', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/v1/events', '/', '/v1', '/v1/nothing'),
  idSegment.map((id) => `/v1/generations/${id}`),
  idSegment.map((id) => `/v1/generations/${id}/output`),
  fc.tuple(idSegment, fc.constantFrom('alternatives', 'download', 'verify', 'wait-time')).map(([id, what]) => `/v1/models/${id}/${what}`),
  fc.string({ maxLength: 30 }).map((s) => `/${percentEncode(s)}`),
);

const queryKey = fc.oneof(fc.constantFrom('status', 'limit', 'cursor', 'resolution', 'quality', 'speed', 'image', 'jobId', '__proto__'), fc.string({ maxLength: 8 }));
const query = fc.oneof(
  fc.constant(''),
  fc.array(fc.tuple(queryKey, oddString), { maxLength: 4 }).map((pairs) => `?${pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v.slice(0, 300))}`).join('&')}`),
  fc.constantFrom('?cursor=abc', '?cursor=', '?limit=1e3', '?limit=-1', '?status=queued&status=running', '?%ZZ', '?a[b]=1', '?__proto__[x]=1', '?&&&='),
);

const headerName = fc.constantFrom('x-request-id', 'accept', 'accept-encoding', 'authorization', 'x-forwarded-for', 'x-api-key', 'origin', 'if-none-match');
const headers = fc.tuple(contentType, fc.dictionary(headerName, fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), { maxKeys: 3 }))
  .map(([type, extra]) => ({ ...extra, ...(type === '' ? {} : { 'content-type': type }) }));

/** Mostly-valid generation requests: each field is usually right, so jobs get accepted and the 202 path is tested. */
const nearlyValidGeneration: fc.Arbitrary<FuzzRequest> = fc
  .record(
    {
      model: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...MODELS) }, { weight: 1, arbitrary: oddString }),
      prompt: fc.oneof({ weight: 9, arbitrary: fc.string({ maxLength: 60 }) }, { weight: 1, arbitrary: jsonValue }),
      image: fc.oneof({ weight: 3, arbitrary: fc.constant(PNG_DATA_URL) }, { weight: 1, arbitrary: oddString }),
      resolution: fc.constantFrom('1280x720', '1920x1080', '640x640', '1x1'),
      priority: fc.constantFrom('critical', 'high', 'normal', 'low', 'urgent'),
      numFrames: fc.integer({ min: 0, max: 1100 }),
      seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      allowMock: fc.boolean(),
    },
    { requiredKeys: ['model'] },
  )
  .map((b) => ({ method: 'POST' as const, path: '/v1/generations', query: '', headers: { 'content-type': 'application/json' }, body: encoder.encode(JSON.stringify(b)) }));

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'POST', 'DELETE', 'PUT', 'PATCH'), path, query, headers, body }) },
  { weight: 1, arbitrary: nearlyValidGeneration },
);

/** Fragments an answer must never contain: stack frames and the server's own paths. */
function leaks(text: string): string | undefined {
  if (/\n\s+at .+:\d+:\d+/.test(text) || /at [\w.<>]+ \(/.test(text)) return 'a stack trace';
  for (const secret of [service.dataDir, process.cwd(), 'node_modules']) if (text.includes(secret)) return `the server path ${secret}`;
  return undefined;
}

async function totalJobs(): Promise<number> {
  const response = await service.request('/v1/generations?limit=1');
  assert.equal(response.status, 200);
  return ((await response.json()) as { total: number }).total;
}

test('every route survives generated requests: no 5xx, no leaks, 202s exist, rejections store nothing', async () => {
  let accepted = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(fuzzRequest, async (req) => {
      const changes = req.method !== 'GET';
      const before = changes ? await totalJobs() : 0;
      const sendsBody = req.body !== undefined && req.method !== 'GET';
      const response = await fetch(`${service.url}${req.path}${req.query}`, {
        method: req.method,
        headers: req.headers,
        ...(sendsBody ? { body: req.body } : {}),
      });
      const text = await response.text();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const label = `${req.method} ${req.path}${req.query} -> ${response.status}: ${text.slice(0, 300)}`;
      assert.ok(response.status < 500, `a server error: ${label}`);
      const leak = leaks(text);
      assert.equal(leak, undefined, `the answer shows ${leak}: ${label}`);
      if (response.status === 202 && req.path === '/v1/generations') {
        accepted++;
        const { id } = JSON.parse(text) as { id: string };
        const stored = await service.request(`/v1/generations/${encodeURIComponent(id)}`);
        assert.equal(stored.status, 200, `an accepted job that does not exist: ${label}`);
        assert.equal(await totalJobs(), before + 1, `one 202, one job: ${label}`);
      } else if (changes && response.status >= 400) {
        assert.equal(await totalJobs(), before, `a rejected request stored a job: ${label}`);
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  assert.equal((await service.request('/healthz')).status, 200, 'the server is still up');
  // The generators must reach the accepting path and the rejecting one, or the property says little.
  assert.ok(accepted >= 20, `only ${accepted} requests were accepted; statuses ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(400) ?? 0) >= 100, `few 400s: ${JSON.stringify([...statuses])}`);
});

test('found by the fuzzer: a body nested too deeply for JSON to echo is a 400, not a 500', async () => {
  const depth = 20_000;
  const response = await service.request('/v1/generations', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '['.repeat(depth) + ']'.repeat(depth),
  });
  assert.equal(response.status, 400);
  const body = (await response.json()) as { error: { details: Array<{ field: string; received: unknown }> } };
  assert.equal(body.error.details[0]!.received, '(too deeply nested to show)');
});

test('found by the fuzzer: a cursor that is not one the server gave is a 400 naming cursor', async () => {
  for (const cursor of ['abc', '-1', '1e3', '99999999999999999999']) {
    const response = await service.request(`/v1/generations?cursor=${cursor}`);
    assert.equal(response.status, 400, cursor);
    const body = (await response.json()) as { error: { details: Array<{ field: string }> } };
    assert.deepEqual(body.error.details.map((d) => d.field), ['cursor']);
  }
});
