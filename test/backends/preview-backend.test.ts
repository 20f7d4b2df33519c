import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderTextGif } from '../../src/adapters/gif-writer.js';
import { PREVIEW_LABEL, PreviewBackend } from '../../src/adapters/preview-backend.js';
import type { GenerationRequest } from '../../src/runtime/backend.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { decodeGif } from './gif-decoder.js';

/** Every output of this file goes under one temporary directory, removed at the end. */
const outputRoot = await mkdtemp(join(tmpdir(), 'understudy-preview-'));

const ACCENT = 2;

async function setup() {
  const clock = new ManualClock();
  const backend = new PreviewBackend({}, { clock });
  const outputDir = await mkdtemp(join(outputRoot, 'job-'));
  const job: GenerationRequest = {
    jobId: 'job-7',
    modelId: 't2v-A14B',
    prompt: 'a lighthouse in a storm',
    outputDir,
    settings: { resolution: '1280x720', quality: 'high', numFrames: 33 },
  };
  return { clock, backend, outputDir, job };
}

await test('a preview is instant, CPU only, and labelled as a preview in the result and on every frame', async () => {
  const { backend, job, outputDir } = await setup();
  const progress: number[] = [];
  const output = await backend.generate(job, { signal: new AbortController().signal, onProgress: (fraction) => progress.push(fraction) });

  assert.equal(output.isPreview, true);
  assert.equal(output.mediaType, 'image/gif');
  assert.equal(output.durationMs, 0, 'no time passes on the clock');
  assert.equal(output.path, join(outputDir, 'job-7.preview.gif'));
  assert.deepEqual(await readdir(outputDir), ['job-7.preview.gif']);
  assert.deepEqual(progress, [1]);
  assert.equal(await backend.vram(), null);
  assert.deepEqual(await backend.loadedModels(), []);
  assert.deepEqual(await backend.checkHealth(new AbortController().signal), { healthy: true });

  const gif = decodeGif(new Uint8Array(await readFile(output.path)));
  assert.equal(gif.frames.length, 6);
  // The banner is the only thing drawn in the accent colour: each frame carries exactly the pixels of the word.
  const label = decodeGif(renderTextGif({ width: 160, height: 90, frames: [[]], banner: PREVIEW_LABEL })).frames[0]!;
  const labelPixels = [...label.keys()].filter((i) => label[i] === ACCENT);
  assert.ok(labelPixels.length > 0);
  for (const frame of gif.frames) {
    assert.deepEqual(
      [...frame.keys()].filter((i) => frame[i] === ACCENT),
      labelPixels,
    );
  }
});

await test('an aborted preview rejects with an AbortError and writes nothing', async () => {
  const { backend, job, outputDir } = await setup();
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(backend.generate(job, { signal: controller.signal, onProgress: () => undefined }), { name: 'AbortError' });
  assert.deepEqual(await readdir(outputDir), []);
});

await rm(outputRoot, { recursive: true, force: true });
