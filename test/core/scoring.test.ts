import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCatalog, mergeCatalog } from '../../src/core/catalog.js';
import { EstimationConfigSchema } from '../../src/core/estimates.js';
import { withDefaults, type GenerationRequirementsInput } from '../../src/core/requirements.js';
import { ScoringConfigSchema, rankAlternatives, type RankingInput } from '../../src/core/scoring.js';
import { isValidationError } from '../../src/core/validation.js';
import { ALL_AVAILABLE, availability, catalog } from '../support/planning-fixtures.js';

const scoring = ScoringConfigSchema.parse({});
const estimation = EstimationConfigSchema.parse({});

function rank(req: GenerationRequirementsInput, extra: Partial<RankingInput> = {}) {
  return rankAlternatives({ catalog, requirements: withDefaults(req), availability: availability(ALL_AVAILABLE), scoring, estimation, ...extra });
}

test('the reference formula: 0.4 × table + 0.4 × shared capabilities + 0.2 × requirement factor', () => {
  // t2v → ti2v at defaults: 0.4×0.8 + 0.4×(1/3) + 0.2×1
  const s = rank({ modelType: 't2v-A14B' }).suggestions.find((x) => x.suggestedModel === 'ti2v-5B')!;
  assert.ok(Math.abs(s.compatibilityScore - (0.32 + 0.4 / 3 + 0.2)) < 1e-12);
  assert.equal(s.factors.compatibility.value, 0.8);
  assert.ok(Math.abs(s.factors.capabilities.value - 1 / 3) < 1e-12);
  assert.equal(s.factors.requirements.value, 1);
  assert.deepEqual(s.capabilitiesMatch, ['high_quality']);
  assert.deepEqual(s.capabilitiesMissing, ['text_to_video', 'high_resolution']);
});

test('requirement factor: high quality, fast speed and 1080p multiply as the reference says', () => {
  // ti2v for t2v at 1920x1080, high, fast: 1.2 (has high_quality) × 1.2 (has fast) × 0.6 (no high_resolution)
  const s = rank({ modelType: 't2v-A14B', quality: 'high', speed: 'fast', resolution: '1920x1080' }).suggestions.find(
    (x) => x.suggestedModel === 'ti2v-5B',
  )!;
  assert.ok(Math.abs(s.factors.requirements.value - 1.2 * 1.2 * 0.6) < 1e-12);
  assert.equal(s.factors.requirements.applied.length, 3);
  // t2v for ti2v at 1920x1088 and fast: 0.8 (no fast) × 1.1 (high_resolution)
  const t = rank({ modelType: 'ti2v-5B', speed: 'fast', resolution: '1920x1088' }).suggestions.find((x) => x.suggestedModel === 't2v-A14B')!;
  assert.ok(Math.abs(t.factors.requirements.value - 0.8 * 1.1) < 1e-12);
});

test('the score is capped at 1 and labels follow 0.9 / 0.7', () => {
  const generous = ScoringConfigSchema.parse({ weights: { compatibility: 1, capabilities: 1, requirements: 1 } });
  const s = rank({ modelType: 'ti2v-5B' }, { scoring: generous }).suggestions[0]!;
  assert.equal(s.compatibilityScore, 1);
  assert.equal(s.estimatedQualityDifference, 'similar');
  const i2vToTi2v = rank({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }).suggestions[0]!;
  // 0.4×0.9 + 0.4×(1/3) + 0.2×1.2 = 0.7333
  assert.equal(i2vToTi2v.estimatedQualityDifference, 'slightly_lower');
  const t2vToTi2v = rank({ modelType: 't2v-A14B' }).suggestions[0]!;
  assert.equal(t2vToTi2v.estimatedQualityDifference, 'significantly_lower');
});

test('input type is a hard constraint: an image request never goes to a text-only model', () => {
  const ranked = rank({ modelType: 'i2v-A14B', hasImage: true });
  assert.deepEqual(ranked.suggestions.map((s) => s.suggestedModel), ['ti2v-5B']);
  assert.deepEqual(ranked.excluded, [{ model: 't2v-A14B', constraint: 'input', reason: 't2v-A14B cannot take an input image' }]);
  // And a text-only request never goes to a model that needs an image, although the table lists t2v→i2v 0.7.
  const text = rank({ modelType: 't2v-A14B' });
  assert.ok(!text.suggestions.some((s) => s.suggestedModel === 'i2v-A14B'));
  assert.equal(text.excluded[0]!.reason, 'i2v-A14B needs an input image');
});

test('the requested model itself is never suggested', () => {
  for (const id of ['t2v-A14B', 'i2v-A14B', 'ti2v-5B']) {
    const ranked = rank({ modelType: id, hasImage: id !== 't2v-A14B' });
    assert.ok(!ranked.suggestions.some((s) => s.suggestedModel === id), id);
  }
});

test('VRAM fit against a budget excludes a model with a stated reason', () => {
  const ranked = rank({ modelType: 'i2v-A14B', hasImage: true, resolution: '1920x1080' }, { vramBudgetGb: 8 });
  assert.equal(ranked.suggestions.length, 0);
  const ti2v = ranked.excluded.find((e) => e.model === 'ti2v-5B')!;
  assert.equal(ti2v.constraint, 'vram');
  assert.equal(ti2v.reason, 'ti2v-5B needs 8.4 GB of VRAM at 1920x1080; 8.0 GB is available');
});

test('nothing under 0.3 is an alternative', () => {
  const low = mergeCatalog(createCatalog(), {
    models: [{ id: 'weak', inputs: { text: 'required', image: 'unsupported' }, capabilities: ['fast_generation'], qualityRank: 0.2, baseVramGb: 2, sizeGb: 1, baseSeconds: 10 }],
    compatibility: { 't2v-A14B': { weak: 0.1 } },
  });
  const ranked = rankAlternatives({ catalog: low, requirements: withDefaults({ modelType: 't2v-A14B', quality: 'high' }), availability: availability({ weak: 'available' }), scoring, estimation });
  // 0.4×0.1 + 0 + 0.2×0.7 = 0.18
  const weak = ranked.excluded.find((e) => e.model === 'weak')!;
  assert.equal(weak.constraint, 'score');
  assert.match(weak.reason, /scores 0\.18, below the minimum 0\.3/);
  assert.ok(!ranked.suggestions.some((s) => s.suggestedModel === 'weak'));
});

test('ranking is deterministic: equal scores go to the available model, then higher quality, then id', () => {
  const twins = mergeCatalog(createCatalog(), {
    replaceDefaults: true,
    models: ['b-model', 'a-model', 'c-model', 'req'].map((id) => ({
      id,
      inputs: { text: 'required', image: 'unsupported' },
      capabilities: ['text_to_video'],
      qualityRank: id === 'c-model' ? 0.9 : 0.5,
      baseVramGb: 4,
      sizeGb: 1,
      baseSeconds: 10,
    })),
  });
  const ranked = rankAlternatives({
    catalog: twins,
    requirements: withDefaults({ modelType: 'req' }),
    availability: availability({ 'a-model': 'available', 'b-model': 'available', 'c-model': 'missing' }),
    scoring,
    estimation,
  });
  assert.deepEqual(ranked.suggestions.map((s) => s.suggestedModel), ['a-model', 'b-model', 'c-model']);
});

test('each suggestion carries estimates, availability, performance difference and a reason', () => {
  const s = rank({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }).suggestions[0]!;
  assert.equal(s.vramRequirementGb, 6);
  assert.ok(Math.abs(s.estimatedGenerationTimeSeconds - 80 * 1.3) < 1e-9);
  assert.equal(s.availabilityStatus, 'available');
  assert.ok(Math.abs(s.performanceDifference - (0.8 - 0.95) / 0.95) < 1e-12);
  assert.match(s.reason, /ti2v-5B scores 0\.73 for i2v-A14B: compatibility 0\.9, 1 of 3 capabilities shared/);
  assert.equal(s.isPreview, false);
});

test('an unknown model is a validation error naming the models allowed', () => {
  assert.throws(
    () => rank({ modelType: 'nope' }),
    (e: unknown) => isValidationError(e) && e.issues[0]!.field === 'modelType' && /t2v-A14B, i2v-A14B, ti2v-5B/.test(e.message),
  );
});

test('exclusions serialize with their reason', () => {
  const ranked = rank({ modelType: 'i2v-A14B', hasImage: true, resolution: '1920x1080' }, { vramBudgetGb: 8 });
  const json = JSON.parse(JSON.stringify(ranked.excluded));
  assert.equal(json[1].reason, 'ti2v-5B needs 8.4 GB of VRAM at 1920x1080; 8.0 GB is available');
});
