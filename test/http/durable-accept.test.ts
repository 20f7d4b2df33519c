import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemClock } from '../../src/adapters/system-clock.js';
import { ServiceConfigSchema } from '../../src/interfaces/config.js';
import { startService } from '../../src/interfaces/http/service.js';

test('POST /v1/generations answers 202 only once the job log is synced, though the job is committed and visible before', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-durable-'));
  // The job log's sync, held by the test once the service is up.
  let hold = false;
  const held: Array<() => void> = [];
  const syncJobLog = (): Promise<void> => (hold ? new Promise<void>((resolve) => held.push(resolve)) : Promise.resolve());
  const clock = new SystemClock();
  const config = ServiceConfigSchema.parse({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', healthIntervalSeconds: 0, rateLimit: { max: 0 } });
  const service = await startService(config, { clock, syncJobLog });
  t.after(async () => {
    hold = false;
    for (const release of held.splice(0)) release();
    await service.stop();
    clock.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  hold = true;
  let answered = false;
  const post = fetch(`${service.url}/v1/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'ti2v-5B', prompt: 'a lighthouse at dusk' }),
  }).then((response) => ((answered = true), response));

  // Until the job is listed: committed (another request reads it) while its sync is held.
  let listed: Array<{ id: string }> = [];
  for (let i = 0; i < 1000 && listed.length === 0; i++) {
    listed = ((await (await fetch(`${service.url}/v1/generations`)).json()) as { generations: Array<{ id: string }> }).generations;
  }
  assert.equal(listed.length, 1, 'the job was committed');
  assert.ok(held.length >= 1, 'its sync is held');
  assert.equal(answered, false, 'no 202 before the sync');

  hold = false;
  for (const release of held.splice(0)) release();
  const response = await post;
  assert.equal(response.status, 202);
  assert.equal(((await response.json()) as { id: string }).id, listed[0]!.id);
});
