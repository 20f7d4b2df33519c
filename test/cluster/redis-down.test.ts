/** While its Redis is down a gateway answers 503 with Retry-After, never a 202 it cannot keep; /readyz says why. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SystemClock } from '../../src/adapters/system-clock.js';
import { ServiceConfigSchema } from '../../src/interfaces/config.js';
import { startService } from '../../src/interfaces/http/service.js';
import { ProcessGroup } from '../support/processes.js';

const group = new ProcessGroup();
after(() => group.killAll());

test('with Redis killed, POST /v1/generations answers 503 with Retry-After and /readyz 503 naming the store', async () => {
  const redis = await group.startRedis();
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-redis-down-'));
  const clock = new SystemClock();
  const config = ServiceConfigSchema.parse({
    host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', healthIntervalSeconds: 0, shutdownGraceSeconds: 0,
    rateLimit: { max: 0 }, store: redis.url, localWorker: false,
  });
  const service = await startService(config, { clock, warn: () => undefined });
  try {
    const post = (): Promise<Response> =>
      fetch(`${service.url}/v1/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'ti2v-5B', prompt: 'x' }) });
    assert.equal((await post()).status, 202, 'accepted while Redis is up');

    redis.child.process.kill('SIGKILL');
    await redis.child.exited;
    const refused = await post();
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'store_unavailable');
    const ready = await fetch(`${service.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as { error: { message: string } }).error.message, new RegExp(`job store at ${redis.url} is unreachable`));
  } finally {
    await service.stop();
    clock.dispose();
    await rm(dataDir, { recursive: true, force: true });
  }
});
