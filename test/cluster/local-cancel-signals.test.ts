import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalCancelSignals } from '../../src/runtime/cluster/local-cancel-signals.js';
import { startWorkerEngine } from './worker-engine.js';

test('in one process a cancel signal stops the running generation before the clock moves', async () => {
  const worker = await startWorkerEngine({ installed: ['ti2v-5B'], timeScale: 1 });
  try {
    const signals = new LocalCancelSignals();
    const stop = signals.onCancel((jobId, reason) => worker.runner.abort(jobId, reason));
    const { job } = await worker.engine.submit({ model: 'ti2v-5B', prompt: 'a red fox running through snow' });
    for (let i = 0; i < 100 && !worker.events.some((e) => e.type === 'job.progress' && e.jobId === job.id); i++) await worker.clock.advance(500);
    await signals.signal(job.id, 'cancelled by the user');
    await worker.clock.flush();
    for (let i = 0; i < 100 && (await worker.engine.get(job.id))?.status === 'running'; i++) await worker.clock.flush();
    assert.equal((await worker.engine.get(job.id))?.status, 'cancelled');
    stop();
    await signals.signal(job.id, 'again');
    assert.equal(worker.runner.abort(job.id, 'again'), false, 'it no longer runs here');
  } finally {
    await worker.close();
  }
});
