import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FAILURE_TYPES,
  FALLBACK_TYPES,
  MODEL_AVAILABILITIES,
  MODEL_CAPABILITIES,
  PRIORITIES,
  RECOVERY_ACTIONS,
  priorityRank,
} from '../../src/core/vocabulary.js';

test('string values are exactly those of DESIGN.md', () => {
  assert.deepEqual(FALLBACK_TYPES, ['alternative_model', 'queue_and_wait', 'mock_generation', 'download_and_retry', 'reduce_requirements', 'hybrid_approach']);
  assert.deepEqual(MODEL_CAPABILITIES, ['text_to_video', 'image_to_video', 'text_image_to_video', 'high_resolution', 'fast_generation', 'high_quality']);
  assert.deepEqual(RECOVERY_ACTIONS, [
    'fallback_to_mock', 'retry_model_download', 'apply_vram_optimization', 'restart_pipeline',
    'clear_gpu_cache', 'reduce_generation_params', 'enable_cpu_offload', 'system_health_check',
  ]);
  assert.deepEqual(FAILURE_TYPES, [
    'model_loading_failure', 'vram_exhaustion', 'generation_pipeline_error',
    'hardware_optimization_failure', 'system_resource_error', 'network_error',
  ]);
  for (const s of ['available', 'downloading', 'missing', 'corrupted', 'paused', 'failed', 'unknown']) {
    assert.ok(MODEL_AVAILABILITIES.includes(s as never), s);
  }
});

test('priorities rank critical > high > normal > low', () => {
  assert.deepEqual(PRIORITIES, ['critical', 'high', 'normal', 'low']);
  assert.ok(priorityRank('critical') < priorityRank('high'));
  assert.ok(priorityRank('high') < priorityRank('normal'));
  assert.ok(priorityRank('normal') < priorityRank('low'));
});
