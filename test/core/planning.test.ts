import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mergeCatalog } from '../../src/core/catalog.js';
import { PlannerConfigSchema } from '../../src/core/planning.js';
import { FAILURE_TYPES, type ModelAvailability } from '../../src/core/vocabulary.js';
import { isValidationError } from '../../src/core/validation.js';
import { ALL_AVAILABLE, NONE_AVAILABLE, catalog, plan } from '../support/planning-fixtures.js';

const GIB = 1024 ** 3;

describe('missing models', () => {
  test('an image request for a missing i2v-A14B goes to ti2v-5B, not t2v-A14B', () => {
    const s = plan({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }, { ...ALL_AVAILABLE, 'i2v-A14B': 'missing' });
    assert.equal(s.strategyType, 'alternative_model');
    assert.equal(s.model, 'ti2v-5B');
    assert.equal(s.alternative!.suggestedModel, 'ti2v-5B');
    assert.ok(s.alternative!.compatibilityScore >= 0.7);
    assert.equal(s.situation, 'not_downloaded');
    assert.match(s.userMessage, /i2v-A14B is not downloaded\. Running on ti2v-5B instead \(compatibility 0\.73, slightly lower quality\)/);
    assert.equal(s.confidenceScore, s.alternative!.compatibilityScore);
  });

  test('with every alternative missing, download_and_retry when the download takes under 30 minutes', () => {
    const s = plan({ modelType: 't2v-A14B' }, NONE_AVAILABLE);
    assert.equal(s.strategyType, 'download_and_retry');
    assert.equal(s.model, 't2v-A14B');
    // 12 GiB at 50 MiB/s
    assert.ok(Math.abs(s.waitEstimate!.downloadTimeSeconds - 245.76) < 1e-6);
    assert.ok(Math.abs(s.estimatedWaitTimeSeconds - (245.76 + 120)) < 1e-6);
    assert.equal(s.canQueueRequest, true);
    assert.match(s.userMessage, /Downloading it \(12\.0 GiB, about 4 min 6 s\), then generating/);
  });

  test('with every alternative missing and a download over 30 minutes: mock', () => {
    const slow = PlannerConfigSchema.parse({ estimation: { downloadBytesPerSecond: 5 * 1024 ** 2 } });
    const s = plan({ modelType: 't2v-A14B' }, NONE_AVAILABLE, { config: slow });
    assert.equal(s.strategyType, 'mock_generation');
    assert.equal(s.model, 'preview');
    assert.equal(s.isPreview, true);
    const download = s.fallbackOptions.find((o) => o.type === 'download_and_retry')!;
    assert.match(download.whyNot!, /waits about 40 min 58 s, over this step's 30 min limit/);
  });

  test('an alternative scoring between 0.5 and 0.7 is taken when the download is too slow', () => {
    const slow = PlannerConfigSchema.parse({ estimation: { downloadBytesPerSecond: 1024 ** 2 } });
    const s = plan({ modelType: 't2v-A14B' }, { ...NONE_AVAILABLE, 'ti2v-5B': 'available' }, { config: slow });
    assert.equal(s.strategyType, 'alternative_model');
    assert.equal(s.model, 'ti2v-5B');
    assert.ok(s.alternative!.compatibilityScore < 0.7 && s.alternative!.compatibilityScore >= 0.5);
    const options = s.fallbackOptions.map((o) => [o.type, o.minScore, o.chosen]);
    assert.deepEqual(options, [
      ['alternative_model', 0.7, false],
      ['download_and_retry', undefined, false],
      ['alternative_model', 0.5, true],
      ['mock_generation', undefined, false],
    ]);
  });

  for (const status of ['missing', 'corrupted', 'failed', 'unknown'] as ModelAvailability[]) {
    test(`a ${status} model is downloaded when no alternative qualifies`, () => {
      const s = plan({ modelType: 't2v-A14B' }, { ...NONE_AVAILABLE, 't2v-A14B': status });
      assert.equal(s.strategyType, 'download_and_retry');
      assert.equal(s.situation, 'not_downloaded');
      assert.ok(s.waitEstimate!.downloadTimeSeconds > 245, 'a full download');
    });
  }

  test('a paused download is resumed from where it stopped', () => {
    const s = plan({ modelType: 't2v-A14B' }, { ...NONE_AVAILABLE, 't2v-A14B': { modelId: 't2v-A14B', status: 'paused', bytesPresent: 6 * GIB, bytesTotal: 12 * GIB } });
    assert.equal(s.strategyType, 'download_and_retry');
    assert.equal(s.situation, 'download_paused');
    assert.match(s.recommendedAction, /^resume the t2v-A14B download/);
    assert.ok(Math.abs(s.waitEstimate!.downloadTimeSeconds - 122.88) < 1e-6);
    assert.match(s.userMessage, /6\.0 GiB/);
  });
});

describe('downloads in progress', () => {
  const downloading = (present: number, speedMiB: number) => ({
    modelId: 't2v-A14B',
    status: 'downloading' as const,
    bytesPresent: present * GIB,
    bytesTotal: 12 * GIB,
    downloadBytesPerSecond: speedMiB * 1024 ** 2,
  });

  test('a short wait queues the request', () => {
    const s = plan({ modelType: 't2v-A14B' }, { ...ALL_AVAILABLE, 't2v-A14B': downloading(11, 50) });
    assert.equal(s.strategyType, 'queue_and_wait');
    assert.equal(s.situation, 'download_in_progress');
    assert.ok(s.waitEstimate!.totalWaitTimeSeconds < 300);
  });

  test('a long wait with a good alternative runs it now and keeps the requested job queued (hybrid_approach)', () => {
    const s = plan({ modelType: 'ti2v-5B', hasImage: true, quality: 'high' }, { ...ALL_AVAILABLE, 'ti2v-5B': { ...downloading(1, 5), modelId: 'ti2v-5B', bytesTotal: 8 * GIB } });
    assert.equal(s.strategyType, 'hybrid_approach');
    assert.equal(s.model, 'i2v-A14B');
    assert.equal(s.queueRequestedModel, true);
    assert.equal(s.canQueueRequest, true);
    assert.match(s.recommendedAction, /keep the ti2v-5B job queued/);
    assert.match(s.userMessage, /Running i2v-A14B now for a first result in about 2 min 10 s; the ti2v-5B result follows in about 25 min 38 s/);
  });

  test('a long wait without a good alternative queues; past maxWaitTimeSeconds it falls to an alternative', () => {
    const statuses = { ...ALL_AVAILABLE, 't2v-A14B': downloading(2, 10) };
    assert.equal(plan({ modelType: 't2v-A14B' }, statuses).strategyType, 'queue_and_wait');
    const s = plan({ modelType: 't2v-A14B', maxWaitTimeSeconds: 600 }, statuses);
    assert.equal(s.strategyType, 'alternative_model');
    const queue = s.fallbackOptions.filter((o) => o.type === 'queue_and_wait');
    assert.match(queue[1]!.whyNot!, /over the 10 min the request allows/);
  });
});

describe('out of GPU memory', () => {
  test('at 1920x1080 high quality with a lighter model available: the lighter model', () => {
    const s = plan({ modelType: 't2v-A14B', resolution: '1920x1080', quality: 'high' }, ALL_AVAILABLE, { failureType: 'vram_exhaustion' });
    assert.equal(s.strategyType, 'alternative_model');
    assert.equal(s.model, 'ti2v-5B');
    assert.ok(s.alternative!.vramRequirementGb < 11.2);
    assert.match(s.userMessage, /8\.4 GB of VRAM instead of 11\.2 GB/);
  });

  test('without a lighter model: a reduction with the adjusted settings spelled out', () => {
    const s = plan({ modelType: 't2v-A14B', resolution: '1920x1080', quality: 'high' }, { ...ALL_AVAILABLE, 'ti2v-5B': 'missing' }, {
      failureType: 'vram_exhaustion',
      vramBudgetGb: 10,
    });
    assert.equal(s.strategyType, 'reduce_requirements');
    assert.deepEqual(s.requirementsAdjustments, [{ field: 'resolution', from: '1920x1080', to: '1280x720', reason: 'to fit 10.0 GB of VRAM' }]);
    assert.equal(s.requirements.resolution, '1280x720');
    assert.equal(s.requirements.quality, 'high');
    assert.match(s.userMessage, /resolution 1920x1080 → 1280x720; 8\.0 GB of VRAM/);
  });

  test('with no known budget: the reference reduction (1280x720, medium quality)', () => {
    const s = plan({ modelType: 't2v-A14B', resolution: '1920x1080', quality: 'high' }, { 't2v-A14B': 'available' }, { failureType: 'vram_exhaustion' });
    assert.equal(s.strategyType, 'reduce_requirements');
    assert.equal(s.requirements.resolution, '1280x720');
    assert.equal(s.requirements.quality, 'medium');
  });

  test('out of memory although the estimate fits: ask for less than the estimate', () => {
    const s = plan({ modelType: 't2v-A14B' }, { 't2v-A14B': 'available' }, { failureType: 'vram_exhaustion', vramBudgetGb: 20 });
    assert.equal(s.strategyType, 'reduce_requirements');
    assert.ok(s.requirementsAdjustments.length > 0);
  });

  test('an available model that does not fit the budget is planned as out of memory before it runs', () => {
    const s = plan({ modelType: 't2v-A14B', resolution: '1920x1080' }, { 't2v-A14B': 'available' }, { vramBudgetGb: 10 });
    assert.equal(s.situation, 'vram_exhaustion');
    assert.equal(s.strategyType, 'reduce_requirements');
  });

  test('reduction not allowed and nothing lighter: mock; mock not allowed either: reject with every reason', () => {
    const statuses = { 't2v-A14B': 'available' } as const;
    const req = { modelType: 't2v-A14B', resolution: '1920x1080', allowQualityReduction: false } as const;
    assert.equal(plan(req, statuses, { failureType: 'vram_exhaustion' }).strategyType, 'mock_generation');
    const s = plan({ ...req, allowMock: false }, statuses, { failureType: 'vram_exhaustion' });
    assert.equal(s.strategyType, 'reject');
    assert.match(s.userMessage, /reduce_requirements \(t2v-A14B\): the request does not allow reduced settings/);
    assert.match(s.userMessage, /mock_generation \(preview\): the request does not allow a preview/);
  });
});

describe('other failures', () => {
  test('a network error gives an alternative when one scores 0.7', () => {
    const s = plan({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }, ALL_AVAILABLE, { failureType: 'network_error' });
    assert.equal(s.strategyType, 'alternative_model');
    assert.equal(s.model, 'ti2v-5B');
  });

  test('a network error without a good alternative gives queue_and_wait with a 10 minute estimate', () => {
    const s = plan({ modelType: 't2v-A14B' }, ALL_AVAILABLE, { failureType: 'network_error', errorMessage: 'connect ECONNREFUSED 127.0.0.1:8188' });
    assert.equal(s.strategyType, 'queue_and_wait');
    assert.equal(s.waitEstimate!.totalWaitTimeSeconds, 600);
    assert.equal(s.waitEstimate!.confidence, 'low');
    assert.match(s.waitEstimate!.factors[0]!, /ECONNREFUSED/);
  });

  for (const failureType of ['model_loading_failure', 'generation_pipeline_error', 'hardware_optimization_failure', 'system_resource_error'] as const) {
    test(`${failureType}: an alternative scoring 0.6, else mock`, () => {
      const good = plan({ modelType: 'i2v-A14B', hasImage: true }, ALL_AVAILABLE, { failureType });
      assert.equal(good.strategyType, 'alternative_model');
      // t2v → ti2v scores 0.65: enough at 0.6.
      assert.equal(plan({ modelType: 't2v-A14B' }, ALL_AVAILABLE, { failureType }).strategyType, 'alternative_model');
      const none = plan({ modelType: 't2v-A14B' }, { ...ALL_AVAILABLE, 'ti2v-5B': 'missing' }, { failureType });
      assert.equal(none.strategyType, 'mock_generation');
      assert.equal(none.situation, failureType);
    });
  }

  test('every failure type has a plan', () => {
    for (const failureType of FAILURE_TYPES) {
      const s = plan({ modelType: 't2v-A14B' }, ALL_AVAILABLE, { failureType });
      assert.notEqual(s.strategyType, 'reject', failureType);
      assert.ok(s.userMessage.length > 0);
    }
  });
});

describe('user limits and policy', () => {
  test('an available model that fits runs as requested', () => {
    const s = plan({ modelType: 't2v-A14B' }, ALL_AVAILABLE);
    assert.equal(s.strategyType, 'as_requested');
    assert.equal(s.model, 't2v-A14B');
    assert.equal(s.estimatedWaitTimeSeconds, 120);
  });

  test('allowAlternatives: false never suggests another model', () => {
    const s = plan({ modelType: 'i2v-A14B', hasImage: true, allowAlternatives: false }, { ...ALL_AVAILABLE, 'i2v-A14B': 'missing' });
    assert.equal(s.strategyType, 'download_and_retry');
    assert.equal(s.fallbackOptions[0]!.whyNot, 'the request does not allow alternative models');
  });

  test('maxWaitTimeSeconds rules out slower options', () => {
    const s = plan({ modelType: 't2v-A14B', maxWaitTimeSeconds: 200 }, NONE_AVAILABLE);
    assert.equal(s.strategyType, 'mock_generation');
    assert.match(s.fallbackOptions[1]!.whyNot!, /takes about 6 min 6 s, over the 3 min 20 s the request allows/);
    const fast = plan({ modelType: 't2v-A14B', maxWaitTimeSeconds: 400 }, NONE_AVAILABLE);
    assert.equal(fast.strategyType, 'download_and_retry');
  });

  test('every strategy lists the options it considered, with scores, waits and why they lost', () => {
    const s = plan({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }, { ...ALL_AVAILABLE, 'i2v-A14B': 'missing' });
    assert.equal(s.fallbackOptions.filter((o) => o.chosen).length, 1);
    for (const o of s.fallbackOptions.filter((x) => !x.chosen)) assert.ok(o.whyNot, `${o.type} says why it lost`);
    const chosen = s.fallbackOptions.find((o) => o.chosen)!;
    assert.equal(chosen.score, s.alternative!.compatibilityScore);
    assert.equal(chosen.estimatedSeconds, s.estimatedWaitTimeSeconds);
  });

  test('a configured policy replaces the default for its situation', () => {
    const config = PlannerConfigSchema.parse({ policies: { not_downloaded: [{ option: 'hybrid_approach', minScore: 0.7 }, { option: 'mock_generation' }] } });
    const s = plan({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }, { ...ALL_AVAILABLE, 'i2v-A14B': 'missing' }, { config });
    assert.equal(s.strategyType, 'hybrid_approach');
  });

  test('queued jobs ahead lengthen the wait', () => {
    const s = plan({ modelType: 't2v-A14B' }, ALL_AVAILABLE, { queueAhead: (m) => (m === 't2v-A14B' ? 3 : 0) });
    assert.equal(s.estimatedWaitTimeSeconds, 3 * 300 + 120);
  });

  test('an unknown model is a validation error, not "no alternatives"', () => {
    assert.throws(() => plan({ modelType: 'wan-9000' }, ALL_AVAILABLE), (e: unknown) => isValidationError(e) && e.issues[0]!.received === 'wan-9000');
  });

  test('a model with no possible stand-in says why each was ruled out', () => {
    const only = mergeCatalog(catalog, { models: [{ id: 'ti2v-5B', inputs: { text: 'required', image: 'unsupported' } }] });
    const s = plan({ modelType: 'i2v-A14B', hasImage: true }, {}, { catalog: only, failureType: 'generation_pipeline_error' });
    assert.equal(s.strategyType, 'mock_generation');
    assert.match(s.fallbackOptions[0]!.whyNot!, /no model can stand in for i2v-A14B \(t2v-A14B cannot take an input image; ti2v-5B cannot take an input image\)/);
  });

  test('all six fallback types and as_requested are reachable', () => {
    const seen = new Set<string>();
    seen.add(plan({ modelType: 'i2v-A14B', hasImage: true, quality: 'high' }, { ...ALL_AVAILABLE, 'i2v-A14B': 'missing' }).strategyType);
    seen.add(plan({ modelType: 't2v-A14B' }, NONE_AVAILABLE).strategyType);
    seen.add(plan({ modelType: 't2v-A14B', maxWaitTimeSeconds: 10 }, NONE_AVAILABLE).strategyType);
    seen.add(plan({ modelType: 't2v-A14B' }, { 't2v-A14B': 'available' }, { failureType: 'network_error' }).strategyType);
    seen.add(plan({ modelType: 't2v-A14B', resolution: '1920x1080' }, { 't2v-A14B': 'available' }, { failureType: 'vram_exhaustion' }).strategyType);
    seen.add(
      plan({ modelType: 'ti2v-5B', hasImage: true, quality: 'high' }, { ...ALL_AVAILABLE, 'ti2v-5B': { modelId: 'ti2v-5B', status: 'downloading', bytesPresent: 0, bytesTotal: 8 * GIB, downloadBytesPerSecond: 1024 ** 2 } })
        .strategyType,
    );
    seen.add(plan({ modelType: 't2v-A14B' }, ALL_AVAILABLE).strategyType);
    assert.deepEqual([...seen].sort(), [
      'alternative_model', 'as_requested', 'download_and_retry', 'hybrid_approach', 'mock_generation', 'queue_and_wait', 'reduce_requirements',
    ]);
  });
});
