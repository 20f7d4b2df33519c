import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../src/adapters/system-clock.js';
import { createUnderstudy } from '../../src/composition/index.js';
import { FakeComfyUi, type AcceptedPrompt } from '../comfyui/fake-comfyui.js';
import { calmProbe } from './fixtures.js';

/** The values of every node input named `name` in a prompt's workflow. */
function inputs(prompt: AcceptedPrompt | undefined, name: string): unknown[] {
  return Object.values(prompt?.workflow ?? {}).flatMap((node) => (name in node.inputs ? [node.inputs[name]] : []));
}

test('the seed and negative prompt of a request reach the ComfyUI prompt and stay with the job across a restart', { timeout: 60_000 }, async () => {
  const comfy = await FakeComfyUi.start();
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-seed-'));
  const config = { dataDir, healthIntervalSeconds: 0, comfyui: [{ id: 'gpu-0', url: comfy.url }] };
  const deps = { clock: new SystemClock(), probe: calmProbe };
  try {
    const engine = await createUnderstudy(config, deps);
    let jobId: string;
    try {
      await engine.start();
      const { job } = await engine.submit({ model: 't2v-A14B', prompt: 'a red fox in snow', negativePrompt: 'blurry, low contrast', seed: 1234567 });
      jobId = job.id;
      assert.equal(job.request.seed, 1234567);
      assert.equal(job.request.negativePrompt, 'blurry, low contrast');
      await engine.onIdle();
      assert.equal((await engine.get(job.id))?.status, 'succeeded');
      const [prompt] = comfy.prompts;
      assert.ok(inputs(prompt, 'noise_seed').includes(1234567), `noise_seed inputs: ${JSON.stringify(inputs(prompt, 'noise_seed'))}`);
      assert.ok(inputs(prompt, 'text').includes('blurry, low contrast'), `text inputs: ${JSON.stringify(inputs(prompt, 'text'))}`);
      assert.ok(inputs(prompt, 'text').includes('a red fox in snow'));

      await engine.submit({ model: 't2v-A14B', prompt: 'no seed given' });
      await engine.onIdle();
      const second = comfy.prompts[1];
      assert.ok(!inputs(second, 'text').includes('blurry, low contrast'), 'a request without a negative prompt gets the template default');
    } finally {
      await engine.close(0);
    }
    const restarted = await createUnderstudy(config, deps);
    try {
      const stored = await restarted.get(jobId);
      assert.equal(stored?.request.seed, 1234567);
      assert.equal(stored?.request.negativePrompt, 'blurry, low contrast');
    } finally {
      await restarted.close(0);
    }
  } finally {
    await comfy.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
