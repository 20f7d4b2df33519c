import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FallbackRecoverySystem,
  type BreakerStateChange,
  type DownloadRetry,
  type GenerationReduction,
  type MockModeChange,
  type ReduceGenerationParams,
  type RecoveryAttempt,
  type RecoveryContext,
  type SystemStatus,
} from '../../src/runtime/recovery/fallback-recovery-system.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { DEFAULT_RECOVERY_CHAINS, type RecoveryConfig } from '../../src/core/recovery-policy.js';
import { isValidationError } from '../../src/core/validation.js';
import { FAILURE_TYPES, type FailureType, type RecoveryAction } from '../../src/core/vocabulary.js';
import type { HealthProbe } from '../../src/runtime/recovery/health-monitor.js';
import {
  after,
  FakeProbe,
  FakeTarget,
  healthyReading,
  readingWithVram,
  runOnClock,
  type Behaviour,
  type TargetMethod,
} from './fakes.js';

interface SetupOptions {
  readonly behaviours?: Partial<Record<TargetMethod, Behaviour>>;
  readonly config?: RecoveryConfig;
  readonly reduce?: ReduceGenerationParams;
  readonly probe?: HealthProbe;
  readonly random?: () => number;
  readonly withTarget?: boolean;
}

function setup(options: SetupOptions = {}) {
  const clock = new ManualClock();
  const target = new FakeTarget('gpu-1', clock, options.behaviours ?? {});
  const system = new FallbackRecoverySystem({
    clock,
    probe: options.probe ?? new FakeProbe(),
    ...(options.config && { config: options.config }),
    ...(options.reduce && { reduceGenerationParams: options.reduce }),
    ...(options.random && { random: options.random }),
    ...(options.withTarget !== false && { target }),
  });
  const attempts: RecoveryAttempt[] = [];
  system.onRecoveryAttempt((a) => attempts.push(a));
  return { clock, target, system, attempts, start: clock.now() };
}

/** Target behaviours that make each recovery action succeed or fail as listed (unlisted actions fail). */
function outcomes(ok: readonly RecoveryAction[]): Pick<SetupOptions, 'behaviours' | 'reduce'> {
  const result = (action: RecoveryAction): Behaviour => (ok.includes(action) ? 'ok' : 'fail');
  return {
    behaviours: {
      freeGpuMemory: result('clear_gpu_cache'),
      applyVramOptimization: result('apply_vram_optimization'),
      setOffloadMode: result('enable_cpu_offload'),
      restartPipeline: result('restart_pipeline'),
      ensureModelDownloaded: result('retry_model_download'),
      checkHealth: result('system_health_check'),
    },
    reduce: () => (ok.includes('reduce_generation_params') ? TO_720P : null),
  };
}

const TO_720P: GenerationReduction = {
  settings: { resolution: '1280x720', quality: 'high', numFrames: 16, steps: 30 },
  adjustments: [{ field: 'resolution', from: '1920x1080', to: '1280x720', reason: 'out of GPU memory at 1080p' }],
};

const WHOLE_CHAIN: RecoveryConfig = { maxRecoveryAttempts: 10, downloadRetry: { attempts: 1 } };
const CONTEXT: RecoveryContext = { modelId: 't2v-A14B', jobId: 'job-1' };

void describe('recovery chains', () => {
  for (const failureType of FAILURE_TYPES) {
    const chain = DEFAULT_RECOVERY_CHAINS[failureType];

    void test(`${failureType}: the whole default chain in order when every repair fails, ending in preview mode`, async () => {
      const { system, attempts } = setup({ ...outcomes([]), config: WHOLE_CHAIN });
      const result = await system.handleFailure(failureType, new Error('boom'), CONTEXT);
      assert.deepEqual(
        result.attempts.map((a) => a.action),
        chain,
      );
      assert.deepEqual(
        result.attempts.map((a) => a.success),
        chain.map((action) => action === 'fallback_to_mock'),
      );
      assert.equal(result.recovered, true);
      assert.equal(result.action, 'fallback_to_mock');
      assert.equal(result.mockMode, true);
      assert.deepEqual(attempts, result.attempts, 'every attempt is also emitted as an event');
    });

    chain.forEach((action, index) => {
      if (action === 'fallback_to_mock') return;
      void test(`${failureType}: stops at ${action} when it succeeds`, async () => {
        const { system } = setup({ ...outcomes([action]), config: WHOLE_CHAIN });
        const result = await system.handleFailure(failureType, new Error('boom'), CONTEXT);
        assert.deepEqual(
          result.attempts.map((a) => a.action),
          chain.slice(0, index + 1),
        );
        assert.equal(result.recovered, true);
        assert.equal(result.action, action);
        assert.equal(result.mockMode, false);
        assert.match(result.message, new RegExp(`Recovered from ${failureType} with ${action}`));
      });
    });
  }

  void test('all actions failing: not recovered, each reason recorded and reported', async () => {
    const { system } = setup({
      ...outcomes([]),
      config: { chains: { generation_pipeline_error: ['clear_gpu_cache', 'restart_pipeline', 'apply_vram_optimization'] } },
    });
    const result = await system.handleFailure('generation_pipeline_error', 'process exited with code 1', CONTEXT);
    assert.equal(result.recovered, false);
    assert.equal(result.mockMode, false);
    assert.deepEqual(
      result.attempts.map((a) => [a.action, a.success, a.errorMessage]),
      [
        ['clear_gpu_cache', false, 'freeGpuMemory failed'],
        ['restart_pipeline', false, 'restartPipeline failed'],
        ['apply_vram_optimization', false, 'applyVramOptimization failed'],
      ],
    );
    assert.equal(
      result.message,
      'Could not recover from generation_pipeline_error: clear_gpu_cache (freeGpuMemory failed); restart_pipeline (restartPipeline failed); apply_vram_optimization (applyVramOptimization failed)',
    );
  });

  void test('at most maxRecoveryAttempts (default 3) actions per failure; the message names what was not tried', async () => {
    const { system } = setup(outcomes([]));
    const result = await system.handleFailure('vram_exhaustion', 'CUDA out of memory', CONTEXT);
    assert.deepEqual(
      result.attempts.map((a) => a.action),
      ['clear_gpu_cache', 'apply_vram_optimization', 'enable_cpu_offload'],
    );
    assert.equal(result.recovered, false);
    assert.match(result.message, /stopped after 3 attempts \(maxRecoveryAttempts\), not tried: reduce_generation_params, fallback_to_mock$/);
  });

  void test('attempts record times, duration and a serialisable context', async () => {
    const { clock, system, start } = setup({ behaviours: { freeGpuMemory: 'ok' } });
    const result = await system.handleFailure('vram_exhaustion', new Error('CUDA out of memory'), {
      ...CONTEXT,
      generation: { resolution: '1920x1080', quality: 'high', steps: 30 },
    });
    assert.equal(clock.now(), start);
    assert.deepEqual(result.attempts, [
      {
        failureType: 'vram_exhaustion',
        action: 'clear_gpu_cache',
        timestamp: start,
        endedAt: start,
        success: true,
        errorMessage: null,
        errorKind: null,
        recoveryTimeSeconds: 0,
        context: {
          trigger: 'failure',
          failureMessage: 'CUDA out of memory',
          targetId: 'gpu-1',
          backendId: 'gpu-1',
          modelId: 't2v-A14B',
          jobId: 'job-1',
          generation: { resolution: '1920x1080', quality: 'high', steps: 30 },
        },
      },
    ]);
  });

  void test('an unknown failure type is a validation error naming the field', async () => {
    const { system } = setup();
    await assert.rejects(
      system.handleFailure('gpu_on_fire' as FailureType, 'x'),
      (error: unknown) => isValidationError(error) &&
        /^Invalid handleFailure arguments: failureType: expected one of model_loading_failure, .*\(received "gpu_on_fire"\)$/.test(error.message),
    );
  });
});

void describe('recovery actions', () => {
  void test('an action the target lacks fails with "not supported by <id>"', async () => {
    const { system } = setup({ behaviours: {} });
    const result = await system.handleFailure('model_loading_failure', 'missing', CONTEXT);
    assert.deepEqual(
      result.attempts.map((a) => [a.action, a.errorMessage, a.errorKind]),
      [
        ['clear_gpu_cache', 'not supported by gpu-1', 'not_supported'],
        ['retry_model_download', 'not supported by gpu-1', 'not_supported'],
        ['apply_vram_optimization', 'not supported by gpu-1', 'not_supported'],
      ],
    );
    assert.equal(result.recovered, false);
  });

  void test('a context target is used instead of the system target', async () => {
    const { clock, system } = setup({ behaviours: {} });
    const other = new FakeTarget('comfy-2', clock, { restartPipeline: 'ok' });
    const result = await system.handleFailure('generation_pipeline_error', 'crash', { target: other });
    assert.deepEqual(
      result.attempts.map((a) => [a.action, a.errorMessage]),
      [
        ['clear_gpu_cache', 'not supported by comfy-2'],
        ['restart_pipeline', null],
      ],
    );
    assert.equal(result.attempts[0]?.context.backendId, 'comfy-2');
  });

  void test('without any target, target actions fail saying so and the preview still works', async () => {
    const { system } = setup({ withTarget: false, config: { maxRecoveryAttempts: 5 } });
    const result = await system.handleFailure('network_error', 'ECONNREFUSED');
    assert.deepEqual(
      result.attempts.map((a) => [a.action, a.errorMessage, a.errorKind]),
      [
        ['retry_model_download', 'no recovery target (backend) to act on', 'unavailable'],
        ['fallback_to_mock', null, null],
      ],
    );
    assert.equal(result.recovered, true);
  });

  void test('clear_gpu_cache unloads models then frees memory', async () => {
    const { target, system } = setup({ behaviours: { unloadModels: 'ok', freeGpuMemory: 'ok' } });
    assert.equal((await system.handleFailure('vram_exhaustion', 'oom', CONTEXT)).action, 'clear_gpu_cache');
    assert.deepEqual(target.methodsCalled, ['unloadModels', 'freeGpuMemory']);
  });

  void test('enable_cpu_offload asks for the configured offload mode', async () => {
    const { target, system } = setup({
      behaviours: { freeGpuMemory: 'fail', applyVramOptimization: 'fail', setOffloadMode: 'ok' },
      config: { cpuOffloadMode: 'sequential' },
    });
    const result = await system.handleFailure('vram_exhaustion', 'oom', CONTEXT);
    assert.equal(result.action, 'enable_cpu_offload');
    assert.equal(target.calls.at(-1)?.argument, 'sequential');
    assert.deepEqual(system.getRecoveryStatistics().degradedReasons, ['CPU offload enabled on gpu-1']);
  });

  void test('a hung action is abandoned at its timeout on the clock, its signal aborted, and the chain goes on', async () => {
    const { clock, target, system, start } = setup({
      behaviours: { freeGpuMemory: 'fail', restartPipeline: 'hang', applyVramOptimization: 'ok' },
    });
    let settled = false;
    const pending = system.handleFailure('generation_pipeline_error', 'crash', CONTEXT).finally(() => (settled = true));
    await clock.advance(179_999);
    assert.equal(settled, false, 'restart_pipeline may take up to 180 s');
    await clock.advance(1);
    const result = await pending;
    assert.deepEqual(
      result.attempts.map((a) => [a.action, a.success, a.errorMessage, a.errorKind, a.recoveryTimeSeconds]),
      [
        ['clear_gpu_cache', false, 'freeGpuMemory failed', 'rejected', 0],
        ['restart_pipeline', false, 'timed out after 180 s', 'timed_out', 180],
        ['apply_vram_optimization', true, null, null, 0],
      ],
    );
    assert.equal(result.recovered, true);
    const restart = target.calls.find((c) => c.method === 'restartPipeline');
    assert.equal(restart?.signal.aborted, true);
    assert.equal(clock.now(), start + 180_000);
    assert.equal(clock.pendingTimers, 0, 'no timers left behind');
  });

  void test('reduce_generation_params returns the reduced settings from the injected ladder', async () => {
    const seen: RecoveryContext[] = [];
    const { system } = setup({
      ...outcomes([]),
      config: { maxRecoveryAttempts: 4 },
      reduce: (context) => {
        seen.push(context);
        return TO_720P;
      },
    });
    const context: RecoveryContext = { ...CONTEXT, generation: { resolution: '1920x1080', quality: 'high', steps: 30 } };
    const result = await system.handleFailure('vram_exhaustion', 'oom', context);
    assert.equal(result.action, 'reduce_generation_params');
    assert.deepEqual(result.reducedSettings, TO_720P.settings);
    assert.deepEqual(result.adjustments, TO_720P.adjustments);
    assert.equal(seen[0], context);
  });

  void test('reduce_generation_params fails without a ladder, or when nothing is left to reduce', async () => {
    const config: RecoveryConfig = { chains: { vram_exhaustion: ['reduce_generation_params'] } };
    const noLadder = setup({ config });
    assert.equal(
      (await noLadder.system.handleFailure('vram_exhaustion', 'oom')).attempts[0]?.errorMessage,
      'no reduction ladder was given to the recovery system',
    );
    for (const reduce of [() => null, () => ({ settings: TO_720P.settings, adjustments: [] })]) {
      const exhausted = setup({ config, reduce });
      assert.equal(
        (await exhausted.system.handleFailure('vram_exhaustion', 'oom')).attempts[0]?.errorMessage,
        'the generation settings cannot be reduced any further',
      );
    }
  });

  void test('system_health_check fails on critical machine health or an unhealthy target', async () => {
    const probe = new FakeProbe({ ...healthyReading(), cpuPercent: 99 });
    const config: RecoveryConfig = { chains: { system_resource_error: ['system_health_check'] } };
    const critical = setup({ probe, config, behaviours: { checkHealth: 'ok' } });
    assert.equal(
      (await critical.system.handleFailure('system_resource_error', 'x')).attempts[0]?.errorMessage,
      'machine health is critical (CPU use at 99 % (critical above 95 %))',
    );
    const unhealthy = setup({ config, behaviours: { checkHealth: 'fail' } });
    assert.equal(
      (await unhealthy.system.handleFailure('system_resource_error', 'x')).attempts[0]?.errorMessage,
      'gpu-1 is unhealthy (checkHealth failed)',
    );
    const fine = setup({ config, behaviours: {} });
    assert.equal((await fine.system.handleFailure('system_resource_error', 'x')).recovered, true, 'host check alone suffices');
  });

  void test('fallback_to_mock announces preview mode once and shows in statistics', async () => {
    const { system } = setup({ config: { chains: { network_error: ['fallback_to_mock'] }, cooldownSeconds: 0 } });
    const changes: MockModeChange[] = [];
    const statuses: SystemStatus[] = [];
    system.onMockModeChange((c) => changes.push(c));
    system.onSystemStatus((s) => statuses.push(s));
    await system.handleFailure('network_error', 'ECONNREFUSED', { backendId: 'a' });
    await system.handleFailure('network_error', 'ECONNREFUSED', { backendId: 'b' });
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.active, true);
    assert.equal(changes[0]?.reason, 'network_error: ECONNREFUSED');
    assert.equal(statuses.at(-1)?.mockModeActive, true);
    assert.equal(system.getRecoveryStatistics().mockModeActive, true);
    assert.equal(system.getRecoveryStatistics().degradedMode, true);
    system.exitMockMode('backend healthy again');
    assert.equal(system.mockModeActive, false);
    assert.deepEqual(
      changes.map((c) => c.active),
      [true, false],
    );
  });
});

void describe('model download retries', () => {
  const NETWORK_DROP = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

  void test('exponential backoff with jitter on the clock: 5.5 s then 11 s with random fixed at 0.75', async () => {
    let calls = 0;
    const { clock, target, system, start } = setup({
      random: () => 0.75,
      behaviours: {
        ensureModelDownloaded: () => (++calls < 3 ? Promise.reject(NETWORK_DROP) : Promise.resolve()),
      },
    });
    const retries: DownloadRetry[] = [];
    system.onDownloadRetry((r) => retries.push(r));
    const result = await runOnClock(clock, system.handleFailure('network_error', NETWORK_DROP, CONTEXT), 100);
    assert.equal(result.recovered, true);
    assert.deepEqual(
      target.calls.map((c) => [c.argument, c.at - start]),
      [
        ['t2v-A14B', 0],
        ['t2v-A14B', 5_500],
        ['t2v-A14B', 16_500],
      ],
    );
    assert.deepEqual(
      retries.map((r) => [r.failedTry, r.delayMs, r.error]),
      [
        [1, 5_500, 'read ECONNRESET'],
        [2, 11_000, 'read ECONNRESET'],
      ],
    );
    assert.equal(result.attempts[0]?.recoveryTimeSeconds, 16.5);
  });

  void test('gives up after the configured tries', async () => {
    const { clock, target, system } = setup({
      random: () => 0.5,
      behaviours: { ensureModelDownloaded: () => Promise.reject(NETWORK_DROP) },
      config: { chains: { network_error: ['retry_model_download'] } },
    });
    const result = await runOnClock(clock, system.handleFailure('network_error', NETWORK_DROP, CONTEXT));
    assert.equal(target.calls.length, 3);
    assert.equal(result.attempts[0]?.errorMessage, 'download of t2v-A14B failed after 3 tries: read ECONNRESET');
    assert.equal(result.attempts[0]?.recoveryTimeSeconds, 15);
  });

  void test('does not retry what cannot succeed by retrying (disk full)', async () => {
    const diskFull = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const { target, system } = setup({
      behaviours: { ensureModelDownloaded: () => Promise.reject(diskFull) },
      config: { chains: { model_loading_failure: ['retry_model_download'] } },
    });
    const result = await system.handleFailure('model_loading_failure', 'missing', CONTEXT);
    assert.equal(target.calls.length, 1);
    assert.match(result.attempts[0]?.errorMessage ?? '', /not retryable \(system_resource_error\)/);
  });

  void test('needs a model id', async () => {
    const { system } = setup({ behaviours: { ensureModelDownloaded: 'ok' } });
    const result = await system.handleFailure('network_error', 'ECONNRESET');
    assert.equal(result.attempts[0]?.errorMessage, 'no model named in the failure context');
  });

  void test('the action timeout also stops a download waiting between tries', async () => {
    const { clock, target, system } = setup({
      random: () => 0.5,
      behaviours: { ensureModelDownloaded: () => Promise.reject(NETWORK_DROP) },
      config: { chains: { network_error: ['retry_model_download'] }, actionTimeoutOverrides: { retry_model_download: 8 } },
    });
    const result = await runOnClock(clock, system.handleFailure('network_error', NETWORK_DROP, CONTEXT));
    assert.equal(target.calls.length, 2, 'tries at 0 s and 5 s; the third would start at 15 s');
    assert.equal(result.attempts[0]?.errorMessage, 'timed out after 8 s');
    assert.equal(clock.pendingTimers, 0);
  });
});

void describe('cooldowns', () => {
  void test('after a recovery the failure type cools down for 30 s, then recovers again', async () => {
    const { clock, system } = setup({ behaviours: { freeGpuMemory: 'ok' } });
    const scope = { backendId: 'gpu-1' };
    await system.handleFailure('vram_exhaustion', 'oom');
    assert.equal(system.isInCooldown('vram_exhaustion', scope), true);
    assert.equal(system.getCooldownRemaining('vram_exhaustion', scope), 30);

    await clock.advance(10_000);
    const skipped = await system.handleFailure('vram_exhaustion', 'oom again');
    assert.equal(skipped.recovered, false);
    assert.deepEqual(skipped.attempts, []);
    assert.equal(skipped.cooldownRemainingSeconds, 20);
    assert.equal(skipped.message, 'Recovery from vram_exhaustion is cooling down: 20 s remain');

    await clock.advance(19_999);
    assert.equal(system.getCooldownRemaining('vram_exhaustion', scope), 0.001);
    assert.equal(system.isInCooldown('vram_exhaustion', scope), true);
    await clock.advance(1);
    assert.equal(system.isInCooldown('vram_exhaustion', scope), false);
    assert.equal(system.getCooldownRemaining('vram_exhaustion', scope), 0);
    assert.equal((await system.handleFailure('vram_exhaustion', 'oom')).recovered, true);
  });

  void test('the cooldown counts from the end of a recovery, and a running recovery is not started twice', async () => {
    const { clock, system } = setup({ behaviours: { freeGpuMemory: 'hang', applyVramOptimization: 'ok' } });
    const running = system.handleFailure('vram_exhaustion', 'oom', CONTEXT);
    await clock.flush();
    const second = await system.handleFailure('vram_exhaustion', 'oom', CONTEXT);
    assert.equal(second.recovered, false);
    assert.equal(second.message, 'Recovery from vram_exhaustion is already running here; it will not be started twice');
    assert.equal(second.attempts.length, 0);
    assert.equal(system.isInCooldown('vram_exhaustion'), true);
    assert.equal(system.getCooldownRemaining('vram_exhaustion'), 30, 'while running, the whole cooldown is still ahead');
    await clock.advance(60_000);
    assert.equal((await running).recovered, true, 'clear_gpu_cache timed out after 60 s, apply_vram_optimization worked');
    assert.equal(system.getCooldownRemaining('vram_exhaustion', { backendId: 'gpu-1' }), 30);
    await clock.advance(30_000);
    assert.equal(system.isInCooldown('vram_exhaustion'), false);
  });

  void test('scoped: model A cooling down on gpu-1 does not block model B, other backends or other failure types', async () => {
    const { system } = setup({ behaviours: { freeGpuMemory: 'ok' } });
    await system.handleFailure('vram_exhaustion', 'oom', { modelId: 'A' });
    assert.equal(system.isInCooldown('vram_exhaustion', { backendId: 'gpu-1', modelId: 'A' }), true);
    assert.equal(system.isInCooldown('vram_exhaustion', { backendId: 'gpu-1', modelId: 'B' }), false);
    assert.equal(system.isInCooldown('vram_exhaustion', { backendId: 'gpu-2', modelId: 'A' }), false);
    assert.equal(system.isInCooldown('vram_exhaustion', { backendId: 'gpu-1' }), true, 'the backend as a whole overlaps model A');
    assert.equal(system.isInCooldown('vram_exhaustion'), true, 'no scope means anywhere');
    assert.equal(system.isInCooldown('network_error'), false);

    const modelB = await system.handleFailure('vram_exhaustion', 'oom', { modelId: 'B' });
    assert.equal(modelB.recovered, true);
    const modelAAgain = await system.handleFailure('vram_exhaustion', 'oom', { modelId: 'A' });
    assert.equal(modelAAgain.recovered, false);
    assert.equal(modelAAgain.cooldownRemainingSeconds, 30);
  });

  void test('a type-wide recovery (no backend, no model) blocks every scope of that type', async () => {
    const { system } = setup({ withTarget: false, config: { chains: { network_error: ['fallback_to_mock'] } } });
    await system.handleFailure('network_error', 'ECONNREFUSED');
    assert.equal(system.isInCooldown('network_error', { backendId: 'comfy-1', modelId: 'A' }), true);
    assert.equal((await system.handleFailure('network_error', 'x', { backendId: 'comfy-1' })).attempts.length, 0);
  });
});

void describe('circuit breakers', () => {
  const config: RecoveryConfig = { breaker: { failureThreshold: 2, openSeconds: 60 } };

  void test('repeated backend failures take it out of rotation; it is tried again after the open time and closes on success', async () => {
    const { clock, system, start } = setup({ config, behaviours: { freeGpuMemory: 'ok' } });
    const changes: BreakerStateChange[] = [];
    system.onBreakerStateChange((c) => changes.push(c));

    await system.handleFailure('generation_pipeline_error', 'crash');
    assert.equal(system.isAvailable('gpu-1'), true);
    await system.handleFailure('generation_pipeline_error', 'crash', CONTEXT);
    assert.equal(system.isAvailable('gpu-1'), false, 'failures count even while recovery cools down');
    assert.equal(system.isAvailable('gpu-1', 't2v-A14B'), false, 'a model on a backend out of rotation is out too');
    assert.equal(system.getBreakerState('gpu-1'), 'open');
    assert.deepEqual(system.getBreakerStates(), [
      { backendId: 'gpu-1', state: 'open', consecutiveFailures: 0, reopensAt: start + 60_000 },
    ]);

    await clock.advance(59_999);
    assert.equal(system.isAvailable('gpu-1'), false);
    await clock.advance(1);
    assert.equal(system.getBreakerState('gpu-1'), 'half_open');
    assert.equal(system.isAvailable('gpu-1'), true);
    system.recordSuccess('gpu-1');
    assert.equal(system.getBreakerState('gpu-1'), 'closed');
    assert.deepEqual(
      changes.map((c) => [c.backendId, c.from, c.to, c.at - start]),
      [
        ['gpu-1', 'closed', 'open', 0],
        ['gpu-1', 'open', 'half_open', 60_000],
        ['gpu-1', 'half_open', 'closed', 60_000],
      ],
    );
  });

  void test('a failed trial while half-open reopens it', async () => {
    const { clock, system } = setup({ config });
    await system.handleFailure('network_error', 'x');
    await system.handleFailure('network_error', 'x');
    await clock.advance(60_000);
    assert.equal(system.getBreakerState('gpu-1'), 'half_open');
    await system.handleFailure('network_error', 'x');
    assert.equal(system.getBreakerState('gpu-1'), 'open');
  });

  void test('model failures open the model breaker only: model A out, model B and the backend stay in rotation', async () => {
    const { system } = setup({ config });
    await system.handleFailure('model_loading_failure', 'corrupt', { modelId: 'A' });
    await system.handleFailure('model_loading_failure', 'corrupt', { modelId: 'A' });
    assert.equal(system.isAvailable('gpu-1', 'A'), false);
    assert.equal(system.getBreakerState('gpu-1', 'A'), 'open');
    assert.equal(system.isAvailable('gpu-1', 'B'), true);
    assert.equal(system.isAvailable('gpu-1'), true);
    assert.equal(system.getBreakerState('gpu-1'), 'closed');
  });

  void test('a success in between resets the count', async () => {
    const { system } = setup({ config });
    await system.handleFailure('network_error', 'x');
    system.recordSuccess('gpu-1');
    await system.handleFailure('network_error', 'x');
    assert.equal(system.isAvailable('gpu-1'), true);
  });
});

void describe('statistics', () => {
  void test('counts, rates and times are exact', async () => {
    const clock = new ManualClock();
    const system = new FallbackRecoverySystem({ clock, probe: new FakeProbe() });
    const a = new FakeTarget('gpu-a', clock, { freeGpuMemory: after(clock, 1_000, 'fail'), applyVramOptimization: after(clock, 2_000, 'ok') });
    const b = new FakeTarget('gpu-b', clock, { ensureModelDownloaded: after(clock, 4_000, 'ok') });
    const c = new FakeTarget('gpu-c', clock, {
      freeGpuMemory: after(clock, 500, 'fail'),
      restartPipeline: after(clock, 500, 'fail'),
      applyVramOptimization: after(clock, 500, 'fail'),
    });

    assert.equal((await runOnClock(clock, system.handleFailure('vram_exhaustion', 'oom', { target: a, modelId: 'm1' }))).recovered, true);
    assert.equal((await runOnClock(clock, system.handleFailure('network_error', 'reset', { target: b, modelId: 'm2' }))).recovered, true);
    assert.equal((await runOnClock(clock, system.handleFailure('generation_pipeline_error', 'crash', { target: c }))).recovered, false);
    assert.equal((await system.handleFailure('vram_exhaustion', 'oom', { target: a, modelId: 'm1' })).cooldownRemainingSeconds !== undefined, true);

    const zero = { fallback_to_mock: 0, retry_model_download: 0, apply_vram_optimization: 0, restart_pipeline: 0, clear_gpu_cache: 0, reduce_generation_params: 0, enable_cpu_offload: 0, system_health_check: 0 };
    const noFailures = { model_loading_failure: 0, vram_exhaustion: 0, generation_pipeline_error: 0, hardware_optimization_failure: 0, system_resource_error: 0, network_error: 0 };
    assert.deepEqual(system.getRecoveryStatistics(), {
      totalAttempts: 6,
      successfulAttempts: 2,
      successRate: 33.33,
      averageRecoveryTimeMs: 3_000,
      meanTimeToRecoverMs: 3_500,
      attemptsByFailureType: { ...noFailures, vram_exhaustion: 2, network_error: 1, generation_pipeline_error: 3 },
      successesByFailureType: { ...noFailures, vram_exhaustion: 1, network_error: 1 },
      attemptsByAction: { ...zero, clear_gpu_cache: 2, apply_vram_optimization: 2, retry_model_download: 1, restart_pipeline: 1 },
      successesByAction: { ...zero, apply_vram_optimization: 1, retry_model_download: 1 },
      failuresHandled: 4,
      failuresRecovered: 2,
      skippedForCooldown: 1,
      mockModeActive: false,
      degradedMode: true,
      degradedReasons: ['VRAM optimizations applied on gpu-a'],
    });
  });

  void test('no attempts: zeros, not NaN', () => {
    const { system } = setup();
    const stats = system.getRecoveryStatistics();
    assert.equal(stats.successRate, 0);
    assert.equal(stats.averageRecoveryTimeMs, 0);
    assert.equal(stats.meanTimeToRecoverMs, 0);
    assert.equal(stats.degradedMode, false);
  });

  void test('resetRecoveryState clears cooldowns, breakers, preview mode and statistics', async () => {
    const { clock, system } = setup({ config: { breaker: { failureThreshold: 1 }, chains: { network_error: ['fallback_to_mock'] } } });
    const changes: MockModeChange[] = [];
    system.onMockModeChange((c) => changes.push(c));
    await system.handleFailure('network_error', 'x');
    assert.equal(system.isAvailable('gpu-1'), false);
    assert.equal(system.mockModeActive, true);
    system.resetRecoveryState();
    assert.equal(system.isInCooldown('network_error'), false);
    assert.equal(system.isAvailable('gpu-1'), true);
    assert.deepEqual(system.getBreakerStates(), []);
    assert.equal(system.mockModeActive, false);
    assert.equal(changes.at(-1)?.reason, 'recovery state reset');
    assert.equal(system.getRecoveryStatistics().totalAttempts, 0);
    assert.equal(system.getRecoveryStatistics().degradedMode, false);
    assert.equal(clock.pendingTimers, 0, 'the breaker timer is cancelled');
  });
});

void describe('health monitoring', () => {
  function monitored(probe: FakeProbe, config: RecoveryConfig = {}) {
    const parts = setup({ probe, config, behaviours: { freeGpuMemory: 'ok', checkHealth: 'ok' } });
    const statuses: SystemStatus[] = [];
    parts.system.onSystemStatus((s) => statuses.push(s));
    return { ...parts, statuses };
  }

  void test('getSystemHealthStatus reads the probe now', async () => {
    const probe = new FakeProbe({ ...healthyReading(), memoryPercent: 80.1 });
    const { system } = monitored(probe);
    const status = await system.getSystemHealthStatus();
    assert.equal(status.overallStatus, 'degraded');
    assert.deepEqual(status.issues, ['Memory use at 80.1 % (high above 80 %)']);
  });

  void test('model loading and the pipeline count as not working while recovery left them unrepaired', async () => {
    const { system } = setup({ ...outcomes(['restart_pipeline']), config: WHOLE_CHAIN });
    const before = await system.getSystemHealthStatus();
    assert.equal(before.modelLoadingFunctional, true);
    assert.equal(before.generationPipelineFunctional, true);

    // Every real repair of a model loading failure fails; only the preview stands in: loading is not working.
    const loading = await system.handleFailure('model_loading_failure', new Error('weights missing'), CONTEXT);
    assert.equal(loading.action, 'fallback_to_mock');
    let status = await system.getSystemHealthStatus();
    assert.equal(status.modelLoadingFunctional, false);
    assert.equal(status.generationPipelineFunctional, true);
    assert.equal(status.overallStatus, 'degraded');
    assert.match(status.issues.join('; '), /Model loading is not working: model_loading_failure on gpu-1 \(t2v-A14B\) not repaired/);

    // A pipeline error that restart_pipeline repairs leaves the pipeline working.
    assert.equal((await system.handleFailure('generation_pipeline_error', 'process exited with code 1', CONTEXT)).action, 'restart_pipeline');
    assert.equal((await system.getSystemHealthStatus()).generationPipelineFunctional, true);

    // Work succeeding on the backend shows loading works again.
    system.recordSuccess('gpu-1', 't2v-A14B');
    status = await system.getSystemHealthStatus();
    assert.equal(status.modelLoadingFunctional, true);
    assert.equal(status.overallStatus, 'healthy');
  });

  void test('healthy readings start nothing; each check ends with a system_status event', async () => {
    const probe = new FakeProbe();
    const { clock, system, attempts, statuses } = monitored(probe);
    system.startHealthMonitoring();
    await clock.advance(120_000);
    system.stopHealthMonitoring();
    assert.equal(probe.reads, 3);
    assert.equal(attempts.length, 0);
    assert.deepEqual(
      statuses.map((s) => [s.health, s.triggered.length]),
      [
        ['healthy', 0],
        ['healthy', 0],
        ['healthy', 0],
      ],
    );
  });

  void test('critical health runs the system_resource_error chain against the system target', async () => {
    const probe = new FakeProbe({ ...healthyReading(), cpuPercent: 97 });
    const { clock, system, attempts, statuses } = monitored(probe);
    system.startHealthMonitoring(60_000);
    await clock.flush();
    system.stopHealthMonitoring();
    assert.deepEqual(
      attempts.map((a) => [a.failureType, a.action, a.success, a.context.trigger]),
      [
        ['system_resource_error', 'system_health_check', false, 'health_monitor'],
        ['system_resource_error', 'clear_gpu_cache', true, 'health_monitor'],
      ],
    );
    assert.equal(attempts[0]?.context.targetId, 'gpu-1');
    assert.deepEqual(statuses.at(-1)?.triggered, [
      { failureType: 'system_resource_error', recovered: true, message: 'Recovered from system_resource_error with clear_gpu_cache (attempt 2 of 3)' },
    ]);
    assert.equal(statuses.at(-1)?.health, 'critical');
    assert.equal(system.isAvailable('gpu-1'), true, 'health triggers are not counted against the backend');
  });

  void test('VRAM at 91 % runs the vram_exhaustion chain; 90 % does not', async () => {
    const probe = new FakeProbe(readingWithVram(90));
    const { clock, system, attempts } = monitored(probe);
    system.startHealthMonitoring(60_000);
    await clock.flush();
    assert.equal(attempts.length, 0);
    probe.reading = readingWithVram(91);
    await clock.advance(60_000);
    system.stopHealthMonitoring();
    assert.deepEqual(
      attempts.map((a) => [a.failureType, a.action]),
      [['vram_exhaustion', 'clear_gpu_cache']],
    );
  });

  void test('VRAM at 96 % (critical only because of VRAM) runs the more specific vram_exhaustion chain alone', async () => {
    const { clock, system, attempts } = monitored(new FakeProbe(readingWithVram(96)));
    system.startHealthMonitoring();
    await clock.flush();
    system.stopHealthMonitoring();
    assert.deepEqual(
      [...new Set(attempts.map((a) => a.failureType))],
      ['vram_exhaustion'],
    );
  });

  void test('monitor-started recoveries respect the cooldown', async () => {
    const { clock, system, attempts, statuses } = monitored(new FakeProbe(readingWithVram(91)));
    system.startHealthMonitoring(10_000);
    await clock.advance(30_000);
    system.stopHealthMonitoring();
    assert.deepEqual(
      statuses.map((s) => [s.at - statuses[0]!.at, s.triggered[0]?.recovered]),
      [
        [0, true],
        [10_000, false],
        [20_000, false],
        [30_000, true],
      ],
    );
    assert.equal(attempts.length, 2);
    assert.match(statuses[1]?.triggered[0]?.message ?? '', /cooling down: 20 s remain/);
    assert.equal(system.getRecoveryStatistics().skippedForCooldown, 2);
  });

  void test('a job-level failure is blocked while a monitor-started recovery of the same type cools down', async () => {
    const { clock, system } = monitored(new FakeProbe(readingWithVram(91)));
    system.startHealthMonitoring();
    await clock.flush();
    system.stopHealthMonitoring();
    const result = await system.handleFailure('vram_exhaustion', 'CUDA out of memory', CONTEXT);
    assert.equal(result.recovered, false);
    assert.equal(result.cooldownRemainingSeconds, 30);
  });

  void test('non-healthy health marks degraded mode with its reasons', async () => {
    const { system } = monitored(new FakeProbe(readingWithVram(91)));
    await system.getSystemHealthStatus();
    const stats = system.getRecoveryStatistics();
    assert.equal(stats.degradedMode, true);
    assert.deepEqual(stats.degradedReasons, ['health degraded: GPU memory on GPU 0 (Test GPU) at 91 % (high above 90 %)']);
  });
});
