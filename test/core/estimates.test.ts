import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EstimationConfigSchema,
  catalogGenerationSeconds,
  estimateGenerationSeconds,
  estimateVramGb,
  estimateWaitTime,
  safeEstimateWaitTime,
} from '../../src/core/estimates.js';
import { EstimateLearner } from '../../src/core/learner.js';
import { catalog } from '../support/planning-fixtures.js';

const config = EstimationConfigSchema.parse({});
const t2v = catalog.byId.get('t2v-A14B')!;
const GIB = 1024 ** 3;
const close = (a: number, b: number, eps = 1e-9): void => assert.ok(Math.abs(a - b) < eps, `${a} ≈ ${b}`);

test('VRAM: base × 1.0 at 720p, × 1.4 at 1080p', () => {
  close(estimateVramGb(t2v, { resolution: '1280x720', quality: 'medium' }, config), 8);
  close(estimateVramGb(t2v, { resolution: '1280x704', quality: 'medium' }, config), 8);
  close(estimateVramGb(t2v, { resolution: '1920x1080', quality: 'high' }, config), 11.2);
  close(estimateVramGb(t2v, { resolution: '1920x1088', quality: 'low' }, config), 11.2);
});

test('VRAM of unlisted resolutions is interpolated by pixels (the reference used a flat ×1.2, making 480p dearer than 720p)', () => {
  const at480 = estimateVramGb(t2v, { resolution: '832x480', quality: 'medium' }, config);
  assert.ok(at480 < 8, `480p (${at480}) needs less than 720p`);
  const at1600 = estimateVramGb(t2v, { resolution: '1600x900', quality: 'medium' }, config);
  assert.ok(at1600 > 8 && at1600 < 11.2);
});

test('VRAM grows with frames by the configured share', () => {
  close(estimateVramGb(t2v, { resolution: '1280x720', quality: 'medium', numFrames: 8 }, config), 8 * 0.75);
  close(estimateVramGb(t2v, { resolution: '1280x720', quality: 'medium', numFrames: 32 }, config), 8 * 1.5);
});

test('generation time: × 1.5 at 1080p, × 1.3 high, × 0.7 low, scaled by frames and steps', () => {
  close(catalogGenerationSeconds(t2v, { resolution: '1280x720', quality: 'medium' }, config), 120);
  close(catalogGenerationSeconds(t2v, { resolution: '1920x1080', quality: 'high' }, config), 120 * 1.5 * 1.3);
  close(catalogGenerationSeconds(t2v, { resolution: '1280x720', quality: 'low' }, config), 84);
  close(catalogGenerationSeconds(t2v, { resolution: '1280x720', quality: 'medium', numFrames: 8, steps: 50 }, config), 120);
});

test('the learner scales generation estimates by measured actual ÷ estimated, per model and resolution', () => {
  const learner = new EstimateLearner(0.5);
  learner.recordGeneration('t2v-A14B', '1280x720', 60, 120);
  close(estimateGenerationSeconds(t2v, { resolution: '1280x720', quality: 'medium' }, config, learner), 60);
  learner.recordGeneration('t2v-A14B', '1280x720', 120, 120);
  // EWMA with alpha 0.5: 0.5 + 0.5 × (1 − 0.5) = 0.75
  close(estimateGenerationSeconds(t2v, { resolution: '1280x720', quality: 'medium' }, config, learner), 90);
  // Another resolution falls back to the model-wide ratio.
  close(estimateGenerationSeconds(t2v, { resolution: '1920x1080', quality: 'medium' }, config, learner), 180 * 0.75);
  assert.equal(learner.speedRatio('ti2v-5B', '1280x720'), undefined);
  const restored = new EstimateLearner(0.5, learner.toJSON());
  assert.deepEqual(restored.speedRatio('t2v-A14B', '1280x720'), { mean: 0.75, samples: 2 });
});

test('generationSpeedFactor scales catalog times until the learner has measured the model', () => {
  const fast = EstimationConfigSchema.parse({ generationSpeedFactor: 0.5 });
  const settings = { resolution: '1280x720', quality: 'medium' } as const;
  close(estimateGenerationSeconds(t2v, settings, fast), 60);
  const learner = new EstimateLearner(0.5);
  learner.recordGeneration('t2v-A14B', '1280x720', 30, 120);
  close(estimateGenerationSeconds(t2v, settings, fast, learner), 30, 1e-9);
  assert.throws(() => EstimationConfigSchema.parse({ generationSpeedFactor: 0 }), /generationSpeedFactor/);
});

test('wait for a missing model: full download at 50 MiB/s until measured, medium confidence', () => {
  const w = estimateWaitTime({ model: t2v, status: { modelId: 't2v-A14B', status: 'missing' }, queueAhead: 0, config });
  close(w.totalWaitTimeSeconds, (12 * GIB) / (50 * 1024 ** 2));
  assert.equal(w.confidence, 'medium');
  assert.match(w.factors[0]!, /12\.0 GiB left to download at 50\.0 MiB\/s \(assumed until measured\)/);
});

test('wait for a downloading model uses its progress and measured speed, plus 300 s per queue position', () => {
  const w = estimateWaitTime({
    model: t2v,
    status: { modelId: 't2v-A14B', status: 'downloading', bytesPresent: 9 * GIB, bytesTotal: 12 * GIB, downloadBytesPerSecond: 100 * 1024 ** 2 },
    queueAhead: 2,
    config,
  });
  close(w.downloadTimeSeconds, (3 * GIB) / (100 * 1024 ** 2));
  close(w.queueWaitTimeSeconds, 600);
  close(w.totalWaitTimeSeconds, w.downloadTimeSeconds + 600);
  close(w.downloadProgress!, 0.75);
  assert.equal(w.queuePosition, 3);
  assert.equal(w.confidence, 'medium', 'queue time is assumed until job durations are measured');
  assert.ok(w.factors.some((f) => /measured on this download/.test(f)));
  assert.ok(w.factors.some((f) => /2 request\(s\) ahead at 300 s each/.test(f)));
});

test('learned download speed and job durations replace the defaults and raise confidence', () => {
  const learner = new EstimateLearner();
  for (let i = 0; i < 3; i++) {
    learner.recordDownload(200 * 1024 ** 2, 1);
    learner.recordGeneration('t2v-A14B', '1280x720', 100, 120);
  }
  const w = estimateWaitTime({ model: t2v, status: { modelId: 't2v-A14B', status: 'missing' }, queueAhead: 1, slots: 2, learner, config });
  close(w.downloadTimeSeconds, (12 * GIB) / (200 * 1024 ** 2));
  close(w.queueWaitTimeSeconds, 100 / 2);
  assert.equal(w.confidence, 'high');
});

test('an available model with nothing queued waits 0 s at high confidence; paused and unknown are low', () => {
  const ready = estimateWaitTime({ model: t2v, status: { modelId: 't2v-A14B', status: 'available' }, queueAhead: 0, config });
  assert.equal(ready.totalWaitTimeSeconds, 0);
  assert.equal(ready.confidence, 'high');
  for (const status of ['paused', 'unknown'] as const) {
    assert.equal(estimateWaitTime({ model: t2v, status: { modelId: 't2v-A14B', status }, queueAhead: 0, config }).confidence, 'low');
  }
  const corrupted = estimateWaitTime({ model: t2v, status: { modelId: 't2v-A14B', status: 'corrupted', bytesPresent: 12 * GIB }, queueAhead: 0, config });
  assert.ok(corrupted.downloadTimeSeconds > 0, 'corrupted files are fetched again in full');
});

test('when estimation fails: 15 minutes at low confidence, the error named', () => {
  const w = safeEstimateWaitTime({ model: undefined, status: { modelId: 'ghost', status: 'missing' }, queueAhead: 0, config });
  assert.equal(w.totalWaitTimeSeconds, 900);
  assert.equal(w.confidence, 'low');
  assert.match(w.factors[0]!, /estimation failed: model "ghost" is not in the catalog; using the 15 min default/);
});
