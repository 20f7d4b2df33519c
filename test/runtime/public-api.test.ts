import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../../src/index.js';

test('the public API has the seed components, the engine, its composition root and the ports, not adapter internals', () => {
  for (const name of ['IntelligentFallbackManager', 'FallbackRecoverySystem', 'Understudy', 'createUnderstudy', 'UnderstudyConfigSchema', 'SqliteJobStore', 'SystemClock', 'ManualClock', 'acceptJob', 'failAttempt', 'queueStatusFrom']) {
    assert.ok(name in api, `${name} is exported`);
  }
  for (const name of ['LOCK_SPIN_MS', 'prepareJobStatements', 'retryWhileLocked', 'LogFileSync', 'GroupSync', 'writeOutputAtomically', 'forwardEngineEvents']) {
    assert.ok(!(name in api), `${name} is not exported`);
  }
});

test('every exported error has an isXxxError guard that tells it from other errors', () => {
  const errors: Array<[Error, (e: unknown) => boolean]> = [
    [new api.QueueFullError(1, 1, 60), api.isQueueFullError],
    [new api.JobNotFoundError('j'), api.isJobNotFoundError],
    [new api.JobAlreadyExistsError('j'), api.isJobAlreadyExistsError],
    [new api.LeaseLostError('j', 'w', 'queued', null, 'complete'), api.isLeaseLostError],
    [new api.InvalidTransitionError('j', 'succeeded', 'cancel'), api.isInvalidTransitionError],
    [new api.BackendError('CUDA out of memory', { code: 'CUDA_OUT_OF_MEMORY' }), api.isBackendError],
    [new api.RecoveryActionError('unsuccessful', 'clear_gpu_cache', 'no'), api.isRecoveryActionError],
    [new api.ValidationError('request', [{ field: 'model', problem: 'missing' }]), api.isValidationError],
    [new api.SchemaTooNewError(99, 2), api.isSchemaTooNewError],
  ];
  const exportedErrors = Object.entries(api).filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error).map(([name]) => name);
  for (const name of exportedErrors) assert.equal(typeof (api as Record<string, unknown>)[`is${name}`], 'function', `is${name} is exported`);
  for (const [error, guard] of errors) {
    assert.ok(guard(error), `${guard.name} recognises ${error.name}`);
    assert.ok(!guard(new Error(error.message)), `${guard.name} refuses a plain Error`);
  }
});
