import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EstimationConfigSchema, estimateVramGb } from '../../src/core/estimates.js';
import { ReductionConfigSchema, findReduction } from '../../src/core/reduction.js';
import { withDefaults } from '../../src/core/requirements.js';
import { catalog } from '../support/planning-fixtures.js';

const estimation = EstimationConfigSchema.parse({});
const reduction = ReductionConfigSchema.parse({});
const t2v = catalog.byId.get('t2v-A14B')!;

test('without limits, the reference ladder: 1080p → 1280x720, steps > 25 → 20, frames > 16 → 8, high → medium', () => {
  const r = findReduction(t2v, withDefaults({ modelType: 't2v-A14B', resolution: '1920x1080', quality: 'high', steps: 30, numFrames: 32 }), {}, reduction, estimation)!;
  assert.deepEqual(r.settings, { resolution: '1280x720', quality: 'medium', numFrames: 8, steps: 20 });
  assert.deepEqual(r.adjustments.map((a) => a.field), ['resolution', 'numFrames', 'steps', 'quality']);
});

test('with a VRAM budget, the largest settings that fit: quality is kept when only memory is short', () => {
  const req = withDefaults({ modelType: 't2v-A14B', resolution: '1920x1080', quality: 'high' });
  const r = findReduction(t2v, req, { vramBudgetGb: 10 }, reduction, estimation)!;
  assert.deepEqual(r.settings, { resolution: '1280x720', quality: 'high', numFrames: 16, steps: 25 });
  assert.equal(r.vramGb, 8);
  assert.deepEqual(r.adjustments, [{ field: 'resolution', from: '1920x1080', to: '1280x720', reason: 'to fit 10.0 GB of VRAM' }]);
});

test('a budget that 1080p misses by little costs frames rather than resolution when frames weigh less', () => {
  const req = withDefaults({ modelType: 't2v-A14B', resolution: '1920x1080' });
  const cheapFrames = ReductionConfigSchema.parse({ weights: { resolution: 2, frames: 0.1, steps: 0.3, quality: 0.7 } });
  const r = findReduction(t2v, req, { vramBudgetGb: 9 }, cheapFrames, estimation)!;
  assert.equal(r.settings.resolution, '1920x1080');
  assert.equal(r.settings.numFrames, 8);
  assert.ok(estimateVramGb(t2v, r.settings, estimation) <= 9);
});

test('a tight budget goes down to 480p and fewer frames; an impossible one returns null', () => {
  const req = withDefaults({ modelType: 't2v-A14B', resolution: '1920x1080' });
  const r = findReduction(t2v, req, { vramBudgetGb: 5 }, reduction, estimation)!;
  assert.ok(r.vramGb <= 5);
  assert.equal(r.settings.resolution, '832x480');
  assert.equal(findReduction(t2v, req, { vramBudgetGb: 1 }, reduction, estimation), null);
});

test('a time limit reduces steps and quality as well as size', () => {
  const req = withDefaults({ modelType: 't2v-A14B', quality: 'high' });
  const r = findReduction(t2v, req, { maxGenerationSeconds: 100 }, reduction, estimation)!;
  assert.ok(r.generationSeconds <= 100, String(r.generationSeconds));
  assert.ok(r.adjustments.length > 0);
  assert.ok(r.adjustments.every((a) => a.reason === 'to finish in time'));
});

test('settings that already fit need no reduction', () => {
  const req = withDefaults({ modelType: 't2v-A14B' });
  assert.equal(findReduction(t2v, req, { vramBudgetGb: 24 }, reduction, estimation), null);
});
