import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assessHealth,
  DEFAULT_HEALTH_THRESHOLDS,
  parseHealthThresholds,
  type HealthInputs,
} from '../../src/core/health-assessment.js';
import { isValidationError } from '../../src/core/validation.js';

const GIB = 1024 ** 3;
const AT = Date.UTC(2026, 0, 1);

function inputs(overrides: Partial<HealthInputs> = {}): HealthInputs {
  return {
    cpuPercent: 10,
    memoryPercent: 20,
    diskFreeBytes: 100 * GIB,
    vram: [{ device: 'GPU 0', usedGb: 2, totalGb: 24 }],
    gpuAvailable: true,
    ...overrides,
  };
}

function vramAt(percent: number): HealthInputs {
  return inputs({ vram: [{ device: 'GPU 0', usedGb: percent, totalGb: 100 }] });
}

void describe('assessHealth thresholds at their edges', () => {
  const EDGES: ReadonlyArray<[string, HealthInputs, 'healthy' | 'degraded' | 'critical']> = [
    ['CPU 80 %', inputs({ cpuPercent: 80 }), 'healthy'],
    ['CPU 80.1 %', inputs({ cpuPercent: 80.1 }), 'degraded'],
    ['CPU 95 %', inputs({ cpuPercent: 95 }), 'degraded'],
    ['CPU 95.1 %', inputs({ cpuPercent: 95.1 }), 'critical'],
    ['memory 80 %', inputs({ memoryPercent: 80 }), 'healthy'],
    ['memory 80.1 %', inputs({ memoryPercent: 80.1 }), 'degraded'],
    ['memory 95 %', inputs({ memoryPercent: 95 }), 'degraded'],
    ['memory 95.1 %', inputs({ memoryPercent: 95.1 }), 'critical'],
    ['VRAM 90 %', vramAt(90), 'healthy'],
    ['VRAM 90.1 %', vramAt(90.1), 'degraded'],
    ['VRAM 95 %', vramAt(95), 'degraded'],
    ['VRAM 95.1 %', vramAt(95.1), 'critical'],
    ['disk exactly 10 GiB free', inputs({ diskFreeBytes: 10 * GIB }), 'healthy'],
    ['disk 1 byte under 10 GiB', inputs({ diskFreeBytes: 10 * GIB - 1 }), 'degraded'],
    ['disk exactly 2 GiB free', inputs({ diskFreeBytes: 2 * GIB }), 'degraded'],
    ['disk 1 byte under 2 GiB', inputs({ diskFreeBytes: 2 * GIB - 1 }), 'critical'],
    ['no GPU on a GPU backend', inputs({ vram: null, gpuAvailable: false }), 'critical'],
  ];
  for (const [name, reading, overall] of EDGES) {
    void test(`${name} → ${overall}`, () => {
      assert.equal(assessHealth(reading, DEFAULT_HEALTH_THRESHOLDS, AT).overallStatus, overall);
    });
  }

  void test('no GPU is fine when requireGpu is false', () => {
    const thresholds = parseHealthThresholds({ requireGpu: false });
    assert.equal(assessHealth(inputs({ vram: null, gpuAvailable: false }), thresholds, AT).overallStatus, 'healthy');
  });

  void test('unreadable values are left out of the verdict', () => {
    const status = assessHealth(inputs({ cpuPercent: null, memoryPercent: null, diskFreeBytes: null }), DEFAULT_HEALTH_THRESHOLDS, AT);
    assert.equal(status.overallStatus, 'healthy');
    assert.equal(status.cpuUsagePercent, null);
  });
});

void describe('assessHealth report', () => {
  void test('issues and recommendations in plain words, one finding per threshold crossed', () => {
    const status = assessHealth(
      inputs({ cpuPercent: 96, memoryPercent: 85, vram: null, gpuAvailable: false, gpuProblem: 'nvidia-smi not found' }),
      DEFAULT_HEALTH_THRESHOLDS,
      AT,
    );
    assert.equal(status.overallStatus, 'critical');
    assert.deepEqual(status.issues, [
      'CPU use at 96 % (critical above 95 %)',
      'Memory use at 85 % (high above 80 %)',
      'No GPU available: nvidia-smi not found',
    ]);
    assert.deepEqual(
      status.findings.map((f) => [f.resource, f.level]),
      [
        ['cpu', 'critical'],
        ['memory', 'high'],
        ['gpu', 'critical'],
      ],
    );
    assert.equal(status.recommendations.length, 3);
    assert.equal(status.lastCheckTimestamp, AT);
  });

  void test('VRAM is reported for the fullest GPU', () => {
    const status = assessHealth(
      inputs({
        vram: [
          { device: 'GPU 0', usedGb: 10, totalGb: 80 },
          { device: 'GPU 1', usedGb: 22, totalGb: 24 },
        ],
      }),
      DEFAULT_HEALTH_THRESHOLDS,
      AT,
    );
    assert.deepEqual(status.vram, { device: 'GPU 1', usedGb: 22, totalGb: 24 });
    assert.equal(status.vramUsagePercent, 91.67);
    assert.deepEqual(status.issues, ['GPU memory on GPU 1 at 91.67 % (high above 90 %)']);
  });

  void test('the reference fields: usage percentages, functional flags and the time of the check', () => {
    const status = assessHealth(inputs({ cpuPercent: 12, memoryPercent: 34 }), DEFAULT_HEALTH_THRESHOLDS, AT);
    assert.equal(status.cpuUsagePercent, 12);
    assert.equal(status.memoryUsagePercent, 34);
    assert.equal(status.modelLoadingFunctional, true);
    assert.equal(status.generationPipelineFunctional, true);
    assert.equal(status.lastCheckTimestamp, AT);
  });

  void test('model loading or a pipeline that recovery left broken is reported, degraded, with what to do', () => {
    const status = assessHealth(
      inputs({ modelLoadingProblem: 'model_loading_failure on gpu-1 not repaired', generationPipelineProblem: 'generation_pipeline_error not repaired' }),
      DEFAULT_HEALTH_THRESHOLDS,
      AT,
    );
    assert.equal(status.modelLoadingFunctional, false);
    assert.equal(status.generationPipelineFunctional, false);
    assert.equal(status.overallStatus, 'degraded');
    assert.deepEqual(
      status.findings.map((f) => [f.resource, f.level]),
      [
        ['model_loading', 'high'],
        ['generation_pipeline', 'high'],
      ],
    );
    assert.match(status.issues[0]!, /^Model loading is not working: model_loading_failure on gpu-1 not repaired/);
  });

  void test('thresholds are validated and named', () => {
    assert.throws(
      () => parseHealthThresholds({ diskCriticalBytes: 20 * GIB }),
      (error: unknown) => isValidationError(error) && /diskCriticalBytes: expected at most diskLowBytes/.test(error.message),
    );
    assert.throws(() => parseHealthThresholds({ cpuHighPercent: 120 }), /cpuHighPercent: .*<=100.*received 120/);
  });
});
