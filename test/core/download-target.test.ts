import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseDownloadTarget, type DownloadCandidate } from '../../src/core/download-target.js';

const GIB = 1024 ** 3;
const need = { modelId: 't2v-A14B', bytes: 12 * GIB, vramGb: 8 };
const worker = (workerId: string, over: Partial<DownloadCandidate> = {}): DownloadCandidate => ({
  workerId,
  diskFreeBytes: 100 * GIB,
  largestVramGb: 24,
  queuedLoads: 0,
  installed: false,
  downloading: false,
  inRotation: true,
  ...over,
});

describe('chooseDownloadTarget', () => {
  test('the worker with the fewest downloads queued, then the most free disk', () => {
    const choice = chooseDownloadTarget(need, [worker('a', { queuedLoads: 2 }), worker('b', { diskFreeBytes: 50 * GIB }), worker('c', { diskFreeBytes: 80 * GIB })]);
    assert.equal(choice.kind, 'download');
    assert.equal('workerId' in choice && choice.workerId, 'c');
  });

  test('a worker without room for the files and the headroom is not a target, and says why', () => {
    const choice = chooseDownloadTarget(need, [worker('small', { diskFreeBytes: 13 * GIB }), worker('roomy', { queuedLoads: 5 })]);
    assert.equal('workerId' in choice && choice.workerId, 'roomy');
    const small = choice.considered.find((c) => c.workerId === 'small');
    assert.equal(small?.eligible, false);
    assert.equal(small?.reason, 'has 13.0 GiB free, t2v-A14B needs 12.0 GiB plus 2.0 GiB headroom');
  });

  test('a worker whose largest GPU is smaller than the model needs is not a target', () => {
    const choice = chooseDownloadTarget({ ...need, vramGb: 11.2 }, [worker('tiny', { largestVramGb: 8 }), worker('big', { queuedLoads: 1 })]);
    assert.equal('workerId' in choice && choice.workerId, 'big');
    assert.match(choice.considered[0]?.reason ?? '', /8 GB of GPU memory, t2v-A14B needs 11\.2 GB/);
  });

  test('a worker with no GPU or out of rotation is not a target', () => {
    const choice = chooseDownloadTarget(need, [worker('cpu', { largestVramGb: null }), worker('broken', { inRotation: false })]);
    assert.equal(choice.kind, 'none');
    assert.match(choice.kind === 'none' ? choice.reason : '', /cpu reports no GPU; broken is out of rotation/);
  });

  test('no download when a live worker has the model or is already downloading it (one per model is enough)', () => {
    const installed = chooseDownloadTarget(need, [worker('a'), worker('b', { installed: true, queuedLoads: 9 })]);
    assert.deepEqual([installed.kind, 'workerId' in installed && installed.workerId], ['installed', 'b']);
    const downloading = chooseDownloadTarget(need, [worker('a'), worker('b', { downloading: true, queuedLoads: 1 })]);
    assert.deepEqual([downloading.kind, 'workerId' in downloading && downloading.workerId], ['downloading', 'b']);
  });

  test('a worker that is downloading it but out of rotation does not count: another target is chosen', () => {
    const choice = chooseDownloadTarget(need, [worker('dying', { downloading: true, inRotation: false }), worker('b')]);
    assert.deepEqual([choice.kind, 'workerId' in choice && choice.workerId], ['download', 'b']);
  });

  test('unknown free disk is allowed but ranks after a known fit; ties break by worker id', () => {
    const choice = chooseDownloadTarget(need, [worker('unknown', { diskFreeBytes: null }), worker('known', { diskFreeBytes: 20 * GIB })]);
    assert.equal('workerId' in choice && choice.workerId, 'known');
    const tie = chooseDownloadTarget(need, [worker('z'), worker('m')]);
    assert.equal('workerId' in tie && tie.workerId, 'm');
  });

  test('with no live worker there is nothing to choose', () => {
    const choice = chooseDownloadTarget(need, []);
    assert.deepEqual(choice, { kind: 'none', reason: 'no worker is live', considered: [] });
  });
});
