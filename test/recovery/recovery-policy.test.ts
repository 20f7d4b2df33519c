import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  actionTimeoutMs,
  DEFAULT_RECOVERY_POLICY,
  downloadRetryDelayMs,
  parseRecoveryConfig,
} from '../../src/core/recovery-policy.js';
import { isValidationError } from '../../src/core/validation.js';

void describe('default recovery policy', () => {
  void test('chains are exactly the DESIGN.md chains', () => {
    assert.deepEqual(DEFAULT_RECOVERY_POLICY.chains, {
      model_loading_failure: ['clear_gpu_cache', 'retry_model_download', 'apply_vram_optimization', 'fallback_to_mock'],
      vram_exhaustion: ['clear_gpu_cache', 'apply_vram_optimization', 'enable_cpu_offload', 'reduce_generation_params', 'fallback_to_mock'],
      generation_pipeline_error: ['clear_gpu_cache', 'restart_pipeline', 'apply_vram_optimization', 'fallback_to_mock'],
      hardware_optimization_failure: ['system_health_check', 'clear_gpu_cache', 'fallback_to_mock'],
      system_resource_error: ['system_health_check', 'clear_gpu_cache', 'fallback_to_mock'],
      network_error: ['retry_model_download', 'fallback_to_mock'],
    });
  });

  void test('reference numbers: 30 s cooldown, 3 attempts, downloads 3 tries from 5 s doubling', () => {
    assert.equal(DEFAULT_RECOVERY_POLICY.cooldownSeconds, 30);
    assert.equal(DEFAULT_RECOVERY_POLICY.maxRecoveryAttempts, 3);
    assert.equal(DEFAULT_RECOVERY_POLICY.downloadRetry.attempts, 3);
    assert.equal(DEFAULT_RECOVERY_POLICY.downloadRetry.initialDelaySeconds, 5);
    assert.equal(DEFAULT_RECOVERY_POLICY.downloadRetry.multiplier, 2);
    assert.equal(DEFAULT_RECOVERY_POLICY.health.cpuCriticalPercent, 95);
    assert.equal(DEFAULT_RECOVERY_POLICY.health.vramHighPercent, 90);
  });

  void test('action timeouts: 60 s by default, longer for restarts and downloads', () => {
    assert.equal(actionTimeoutMs(DEFAULT_RECOVERY_POLICY, 'clear_gpu_cache'), 60_000);
    assert.equal(actionTimeoutMs(DEFAULT_RECOVERY_POLICY, 'restart_pipeline'), 180_000);
    assert.equal(actionTimeoutMs(DEFAULT_RECOVERY_POLICY, 'retry_model_download'), 3_600_000);
    const custom = parseRecoveryConfig({ actionTimeoutSeconds: 5, actionTimeoutOverrides: { clear_gpu_cache: 2 } });
    assert.equal(actionTimeoutMs(custom, 'clear_gpu_cache'), 2_000);
    assert.equal(actionTimeoutMs(custom, 'restart_pipeline'), 5_000, 'overrides replace the default overrides');
  });
});

void describe('parseRecoveryConfig', () => {
  void test('a chain given for one failure type replaces only that chain', () => {
    const policy = parseRecoveryConfig({ chains: { network_error: ['fallback_to_mock'] }, cooldownSeconds: 5 });
    assert.deepEqual(policy.chains.network_error, ['fallback_to_mock']);
    assert.deepEqual(policy.chains.vram_exhaustion, DEFAULT_RECOVERY_POLICY.chains.vram_exhaustion);
    assert.equal(policy.cooldownSeconds, 5);
    assert.equal(policy.maxRecoveryAttempts, 3);
  });

  const BAD: ReadonlyArray<[string, unknown, RegExp]> = [
    ['wrong type', { cooldownSeconds: 'thirty' }, /cooldownSeconds: .*expected number.*\(received "thirty"\)/],
    ['misspelt field', { cooldownSecs: 30 }, /cooldownSecs: unknown field.*\(received 30\)/],
    ['unknown action in a chain', { chains: { vram_exhaustion: ['clear_gpu_cache', 'pray'] } }, /chains\.vram_exhaustion\[1\]: .*clear_gpu_cache.*received "pray"/],
    ['unknown failure type', { chains: { gpu_on_fire: ['fallback_to_mock'] } }, /chains\.gpu_on_fire: unknown field/],
    ['empty chain', { chains: { network_error: [] } }, /chains\.network_error: .*>=1.*received \[\]/],
    ['zero attempts', { maxRecoveryAttempts: 0 }, /maxRecoveryAttempts: .*>=1.*received 0/],
    ['nested download field', { downloadRetry: { attempts: 2.5 } }, /downloadRetry\.attempts: .*int.*received 2\.5/],
    ['breaker threshold', { breaker: { failureThreshold: -1 } }, /breaker\.failureThreshold: .*received -1/],
    ['critical below high', { health: { vramCriticalPercent: 85 } }, /health\.vramCriticalPercent: expected at least vramHighPercent \(90\) \(received 85\)/],
    ['offload mode', { cpuOffloadMode: 'turbo' }, /cpuOffloadMode: .*sequential.*received "turbo"/],
    ['extra classification rule', { classificationRules: [{ pattern: 'x', failureType: 'nope' }] }, /classificationRules\[0\]\.failureType: .*received "nope"/],
  ];
  for (const [name, config, message] of BAD) {
    void test(`rejects ${name}, naming the field`, () => {
      assert.throws(
        () => parseRecoveryConfig(config),
        (error: unknown) => {
          assert.ok(isValidationError(error));
          assert.match(error.message, /^Invalid recovery config: /);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  void test('lists every bad field at once', () => {
    assert.throws(
      () => parseRecoveryConfig({ cooldownSeconds: -1, maxRecoveryAttempts: 'many' }),
      (error: unknown) => isValidationError(error) && error.issues.length === 2,
    );
  });
});

void describe('downloadRetryDelayMs', () => {
  const retry = DEFAULT_RECOVERY_POLICY.downloadRetry;

  void test('without spread (random 0.5): 5 s, 10 s, 20 s', () => {
    assert.deepEqual(
      [1, 2, 3].map((n) => downloadRetryDelayMs(retry, n, () => 0.5)),
      [5_000, 10_000, 20_000],
    );
  });

  void test('jitter spreads by ±20 % at the extremes of the random source', () => {
    assert.equal(downloadRetryDelayMs(retry, 1, () => 0), 4_000);
    assert.equal(downloadRetryDelayMs(retry, 2, () => 0.75), 11_000);
    assert.equal(downloadRetryDelayMs(retry, 2, () => 1), 12_000);
  });

  void test('capped at maxDelaySeconds before jitter', () => {
    const capped = parseRecoveryConfig({ downloadRetry: { maxDelaySeconds: 15, jitterRatio: 0 } }).downloadRetry;
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => downloadRetryDelayMs(capped, n, () => 0.9)),
      [5_000, 10_000, 15_000, 15_000],
    );
  });
});
