import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openEvents, startTestService } from './support.js';

test('stopping refuses new work at once, lets the running job finish, and keeps status readable meanwhile', async () => {
  // A ti2v-5B reference job takes 80 s × 0.02 = 1.6 s here.
  const service = await startTestService({ simulated: { timeScale: 0.02 }, shutdownGraceSeconds: 20 });
  const stream = await openEvents(service.url);
  const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a slow pan' } })).json()) as { id: string };
  await stream.waitFor((e) => e.type === 'job.started' && e.jobId === accepted.id);

  const stopped = service.close();
  const refused = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'too late' } });
  assert.equal(refused.status, 503);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'shutting_down');
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.equal((await service.request('/readyz')).status, 503);
  assert.equal((await service.request(`/v1/generations/${accepted.id}`)).status, 200);

  await stream.waitFor((e) => e.type === 'job.succeeded' && e.jobId === accepted.id);
  await stopped;
});
