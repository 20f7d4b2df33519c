import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestService, type TestService } from './support.js';

const cli = new URL('../../bin/understudy.js', import.meta.url).pathname;

describe('model downloads over HTTP and the CLI', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService();
  });
  after(() => service.close());

  test('POST /v1/models/:id/download answers 202 and the model becomes available', async () => {
    const response = await service.request('/v1/models/t2v-A14B/download', { method: 'POST' });
    assert.equal(response.status, 202);
    assert.deepEqual(await response.json(), { modelId: 't2v-A14B', status: 'downloading' });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const models = (await (await service.request('/v1/models')).json()) as Array<{ id: string; status: string }>;
      if (models.find((m) => m.id === 't2v-A14B')?.status === 'available') break;
      assert.ok(Date.now() < deadline, 't2v-A14B became available in time');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const again = await service.request('/v1/models/t2v-A14B/download', { method: 'POST' });
    assert.deepEqual(await again.json(), { modelId: 't2v-A14B', status: 'available' });
    assert.equal((await service.request('/v1/models/nope/download', { method: 'POST' })).status, 404);
  });

  test('verify is a 400 naming the field when the backend manages the files', async () => {
    const response = await service.request('/v1/models/ti2v-5B/verify', { method: 'POST' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { details: Array<{ field: string }> } };
    assert.equal(body.error.details[0]!.field, 'model');
  });

  test('understudy download follows the download until the model is available', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, '--url', service.url, 'download', 'i2v-A14B'], { timeout: 60_000 });
    assert.match(stdout, /i2v-A14B is available/);
  });
});
