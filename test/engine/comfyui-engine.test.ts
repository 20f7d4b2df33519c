import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidationError } from '../../src/core/validation.js';
import { SystemClock } from '../../src/adapters/system-clock.js';
import { createUnderstudy } from '../../src/composition/index.js';
import { FakeComfyUi } from '../comfyui/fake-comfyui.js';
import { calmProbe } from './fixtures.js';

test('the engine runs jobs on two ComfyUI servers given in config', { timeout: 60_000 }, async () => {
  const first = await FakeComfyUi.start();
  const second = await FakeComfyUi.start();
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-comfy-engine-'));
  const engine = await createUnderstudy(
    { dataDir, healthIntervalSeconds: 0, comfyui: [{ id: 'gpu-0', url: first.url }, { id: 'gpu-1', url: second.url }] },
    { clock: new SystemClock(), probe: calmProbe },
  );
  try {
    await engine.start();
    const models = await engine.models();
    assert.ok(models.every((m) => m.status.status === 'available'), JSON.stringify(models.map((m) => m.status)));
    const jobs = await Promise.all([1, 2].map((n) => engine.submit({ model: 't2v-A14B', prompt: `shot ${n}` })));
    await engine.onIdle();
    for (const { job } of jobs) {
      const done = (await engine.get(job.id))!;
      assert.equal(done.status, 'succeeded', JSON.stringify(done.timeline.at(-1)));
      assert.equal(done.output!.isPreview, false);
    }
    assert.equal(first.prompts.length + second.prompts.length, 2);
  } finally {
    await engine.close(0);
    await first.close();
    await second.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a bad ComfyUI entry names its place in the config', async () => {
  await assert.rejects(
    createUnderstudy({ dataDir: join(tmpdir(), 'unused'), comfyui: [{ id: 'gpu-0', url: 'not a url' }] }, { probe: calmProbe }),
    (e: unknown) => isValidationError(e) && e.issues.some((i) => i.field.startsWith('comfyui[0].')),
  );
});
