import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EstimationConfigSchema } from '../../src/core/estimates.js';
import { describeForecast, estimateMoved, generationTime, loadTime, type JobEstimate } from '../../src/core/job-estimate.js';
import { EstimateLearner } from '../../src/core/learner.js';
import { catalog } from '../support/planning-fixtures.js';

const config = EstimationConfigSchema.parse({});
const t2v = catalog.byId.get('t2v-A14B')!;
const NOW = Date.UTC(2026, 0, 1);

const estimate = (resultInSeconds: number | null, at = NOW): JobEstimate => ({
  estimatedAt: at,
  startAt: resultInSeconds === null ? null : at,
  resultAt: resultInSeconds === null ? null : at + resultInSeconds * 1000,
  confidence: 'high',
  factors: [],
});

test('an estimate is news when its result moves by more than 10 % of the time left and more than 5 s', () => {
  assert.equal(estimateMoved(estimate(100), estimate(109)), false, '9 s of 100 s is under 10 %');
  assert.equal(estimateMoved(estimate(100), estimate(111)), true);
  assert.equal(estimateMoved(estimate(20), estimate(24)), false, '4 s is under 5 s, though 20 %');
  assert.equal(estimateMoved(estimate(20), estimate(26)), true);
  assert.equal(estimateMoved(estimate(100), estimate(null)), true, 'becoming unreachable is news');
  assert.equal(estimateMoved(estimate(null), estimate(null)), false);
});

test('generation and load times: catalog and assumed speeds until measured, then learned', () => {
  const learner = new EstimateLearner();
  const settings = { resolution: '1280x720', quality: 'medium' as const };
  assert.deepEqual(generationTime(t2v, settings, config, learner), { seconds: 120, learned: false });
  for (let i = 0; i < 3; i++) learner.recordGeneration(t2v.id, '1280x720', 60, 120);
  assert.deepEqual(generationTime(t2v, settings, config, learner), { seconds: 60, learned: true });
  assert.deepEqual(loadTime(t2v, 'gpu-0', config, learner), { seconds: 6, learned: false }, '12 GB at the assumed 2 GB/s');
  learner.recordLoad('gpu-1', t2v.id, 60);
  assert.deepEqual(loadTime(t2v, 'gpu-1', config, learner), { seconds: 60, learned: true });
  assert.deepEqual(loadTime(t2v, 'gpu-0', config, learner), { seconds: 60, learned: true }, 'another backend’s load stands in');
  const restored = new EstimateLearner(undefined, learner.toJSON());
  assert.equal(restored.loadSeconds('gpu-1', t2v.id)?.mean, 60, 'load times survive a restart');
  assert.equal(new EstimateLearner(undefined, { speedRatios: {}, jobSeconds: null, downloadBytesPerSecond: null }).loadSeconds('g', 'm'), undefined, 'older saved states load');
});

test('a forecast in words: what is ahead, what is assumed, and confidence from the assumed share', () => {
  const forecast = { jobId: 'j', backendId: 'gpu-0', startAt: NOW + 90_000, endAt: NOW + 150_000, loadSeconds: 0, jobsAhead: 3, loadsAhead: 1, waitsForDownload: true, assumedShare: 0.05 };
  const described = describeForecast(forecast, { now: NOW, generation: { seconds: 60, learned: true }, downloadMeasured: false, slots: 2 });
  assert.equal(described.resultAt, NOW + 150_000);
  assert.equal(described.confidence, 'medium', 'an assumed download speed caps confidence at medium');
  assert.match(described.factors.join('; '), /3 job\(s\) ahead .* over 2 slot\(s\), 1 model load/);
  assert.equal(describeForecast({ ...forecast, waitsForDownload: false }, { now: NOW, generation: { seconds: 60, learned: true }, downloadMeasured: false, slots: 2 }).confidence, 'high');
  assert.equal(describeForecast({ ...forecast, assumedShare: 0.8 }, { now: NOW, generation: { seconds: 60, learned: false }, downloadMeasured: true, slots: 2 }).confidence, 'low');
  const none = describeForecast(undefined, { now: NOW, generation: { seconds: 60, learned: true }, downloadMeasured: true, slots: 2 });
  assert.equal(none.resultAt, null);
  assert.equal(none.confidence, 'low');
});
