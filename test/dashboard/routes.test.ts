/** The dashboard's server side over real HTTP: the page and its files, the status routes, the events socket's token. */
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ManualClock } from '../../src/runtime/clocks.js';
import { ActivityHistory } from '../../src/interfaces/dashboard/activity-history.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { startTestService, waitForFinal, type TestService } from '../http/support.js';

const TOKEN = 'dashboard-token-0123456789';

describe('with a token configured', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ token: TOKEN });
  });
  after(() => service.close());

  test('the page and its files load without the token (they hold no data); the API still needs it', async () => {
    const page = await service.request('/', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    for (const path of ['/dashboard/app.js', '/dashboard/app.css']) assert.equal((await service.request(path)).status, 200, path);
    for (const path of ['/v1/backends', '/v1/activity', '/v1/queue/positions?ids=x']) assert.equal((await service.request(path)).status, 401, path);
  });

  test('the events socket takes the token as a subprotocol, and refuses a wrong one', async () => {
    const open = (token: string) =>
      new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(`${service.url.replace(/^http/, 'ws')}/v1/events`, ['understudy.v1', `understudy.bearer.${Buffer.from(token).toString('base64url')}`]);
        ws.once('open', () => {
          resolve(ws.protocol);
          ws.close();
        });
        ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
        ws.once('error', reject);
      });
    assert.equal(await open(TOKEN), 'understudy.v1', 'the server answers with the version, never the token');
    await assert.rejects(open(`${TOKEN}x`), /status 401/);
  });
});

describe('the status routes', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ simulated: { downloadMiBPerSecond: 0.01 } });
  });
  after(() => service.close());

  test('the script is served gzipped when asked, the same bytes as unzipped', async () => {
    const plain = Buffer.from(await (await fetch(`${service.url}/dashboard/app.js`, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
    const { request } = await import('node:http');
    const zipped = await new Promise<{ body: Buffer; encoding: string | undefined; etag: string | undefined }>((resolve, reject) => {
      request(`${service.url}/dashboard/app.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ body: Buffer.concat(chunks), encoding: res.headers['content-encoding'], etag: res.headers.etag }));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(zipped.encoding, 'gzip');
    assert.ok(zipped.body.length < plain.length);
    assert.deepEqual(gunzipSync(zipped.body), plain);
    const again = await service.request('/dashboard/app.js', { headers: { 'if-none-match': zipped.etag! } });
    assert.equal(again.status, 304);
  });

  test('/v1/backends lists the simulated GPU with its VRAM, loaded models and a closed breaker', async () => {
    const body = (await (await service.request('/v1/backends')).json()) as {
      backends: Array<{ id: string; slots: number; vram: { totalGb: number; usedGb: number } | null; loadedModels: string[]; breaker: { state: string } }>;
      mockModeActive: boolean;
    };
    assert.equal(body.backends.length, 1);
    const [gpu] = body.backends;
    assert.equal(gpu!.id, 'simulated-gpu');
    assert.equal(gpu!.vram!.totalGb, 24);
    assert.equal(gpu!.breaker.state, 'closed');
    assert.equal(body.mockModeActive, false);
  });

  test('/v1/activity counts jobs by state and this minute; /v1/queue/positions answers each id', async () => {
    const run = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a lighthouse' } })).json()) as { id: string };
    await waitForFinal(service, run.id);
    const waiting = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'a fox', allowAlternatives: false } })).json()) as {
      id: string;
      status: string;
    };
    assert.equal(waiting.status, 'waiting_for_model');
    const activity = (await (await service.request('/v1/activity')).json()) as {
      buckets: Array<{ accepted: number; succeeded: number; queueDepth: number | null }>;
      counts: Record<string, number>;
    };
    assert.equal(activity.buckets.length, 60);
    const now = activity.buckets.at(-1)!;
    assert.equal(now.accepted, 2);
    assert.equal(now.succeeded, 1);
    assert.equal(now.queueDepth, 1);
    assert.equal(activity.counts.succeeded, 1);
    assert.equal(activity.counts.waiting_for_model, 1);

    const positions = (await (await service.request(`/v1/queue/positions?ids=${waiting.id},${run.id}`)).json()) as { positions: Record<string, number | null> };
    assert.deepEqual(positions.positions, { [waiting.id]: null, [run.id]: null });
    const bad = await service.request(`/v1/queue/positions?ids=${'x,'.repeat(1001)}x`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /ids/);
  });
});

test('the activity history keeps an hour of minutes, oldest first, and drops what is older', async () => {
  const clock = new ManualClock(0);
  const listeners: Array<(e: UnderstudyEvent) => void> = [];
  let depth = 0;
  const history = new ActivityHistory(
    {
      clock,
      onEvent: (listener) => {
        listeners.push(listener);
        return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
      },
      jobCounts: async () => ({ queued: depth, waiting_for_model: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 }),
    },
    { sampleEveryMs: 0 },
  );
  const emit = (type: 'job.accepted' | 'job.succeeded' | 'job.failed') =>
    listeners.forEach((l) => l({ type, at: clock.now(), jobId: 'j', status: 'queued', model: 'm', message: '' }));
  depth = 3;
  emit('job.accepted');
  emit('job.accepted');
  await clock.advance(61 * 60_000);
  depth = 1;
  emit('job.succeeded');
  emit('job.failed');
  const buckets = await history.read();
  assert.equal(buckets.length, 60);
  assert.equal(buckets.reduce((n, b) => n + b.accepted, 0), 0, 'the first minute is more than an hour old');
  assert.deepEqual(buckets.at(-1), { start: 61 * 60_000, accepted: 0, succeeded: 1, unsuccessful: 1, queueDepth: 1 });
  assert.ok(buckets.every((b, i) => i === 0 || b.start - buckets[i - 1]!.start === 60_000));
  history.dispose();
  assert.equal(listeners.length, 0);
});
