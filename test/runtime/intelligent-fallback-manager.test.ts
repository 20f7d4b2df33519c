import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StaticAvailability } from '../../src/core/availability.js';
import { isValidationError } from '../../src/core/validation.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { InMemoryRequestQueue } from '../../src/runtime/in-memory-request-queue.js';
import { IntelligentFallbackManager } from '../../src/runtime/intelligent-fallback-manager.js';
import { isQueueFullError } from '../../src/runtime/request-queue.js';

function setup(maxSize = 100) {
  const clock = new ManualClock();
  const availability = new StaticAvailability([
    { modelId: 't2v-A14B', status: 'downloading', bytesPresent: 0, bytesTotal: 12 * 1024 ** 3 },
    { modelId: 'i2v-A14B', status: 'missing' },
    { modelId: 'ti2v-5B', status: 'available' },
  ]);
  const manager = new IntelligentFallbackManager({ availability, clock, queue: new InMemoryRequestQueue({ maxSize }) });
  return { clock, availability, manager };
}

test('suggestAlternativeModel gives the best stand-in, or the labelled preview when none qualifies', async () => {
  const { manager } = setup();
  const best = await manager.suggestAlternativeModel('i2v-A14B', { hasImage: true, quality: 'high' });
  assert.equal(best.suggestedModel, 'ti2v-5B');
  const none = await manager.suggestAlternativeModel('i2v-A14B', { hasImage: true, resolution: '1920x1080' });
  assert.equal(none.suggestedModel, 'ti2v-5B', 'no budget given: VRAM does not exclude');
  const limited = new IntelligentFallbackManager({ availability: new StaticAvailability(), clock: new ManualClock(), vramBudgetGb: () => 4 });
  const preview = await limited.suggestAlternativeModel('t2v-A14B');
  assert.equal(preview.isPreview, true);
  assert.equal(preview.suggestedModel, 'preview');
  assert.match(preview.reason, /i2v-A14B needs an input image; ti2v-5B needs 6\.0 GB of VRAM at 1280x720; 4\.0 GB is available/);
});

test('getFallbackStrategy reads availability and emits the decision', async () => {
  const { manager } = setup();
  const seen: string[] = [];
  manager.onDecision((d) => seen.push(`${d.requestedModel}:${d.strategy.strategyType}`));
  const s = await manager.getFallbackStrategy('i2v-A14B', { requirements: { hasImage: true, quality: 'high' } });
  assert.equal(s.strategyType, 'alternative_model');
  const oom = await manager.getFallbackStrategy('ti2v-5B', { failureType: 'vram_exhaustion', requirements: { resolution: '1920x1080' } });
  assert.equal(oom.strategyType, 'reduce_requirements');
  assert.deepEqual(seen, ['i2v-A14B:alternative_model', 'ti2v-5B:reduce_requirements']);
});

test('bad requirements are a validation error naming the field and what is allowed', async () => {
  const { manager } = setup();
  await assert.rejects(
    manager.getFallbackStrategy('t2v-A14B', { requirements: { quality: 'ultra' as never } }),
    (e: unknown) => isValidationError(e) && e.issues[0]!.field === 'quality' && /low.*medium.*high/.test(e.issues[0]!.problem) && e.issues[0]!.received === 'ultra',
  );
  await assert.rejects(manager.estimateWaitTime('nope'), (e: unknown) => isValidationError(e));
});

test('estimateWaitTime counts the queue ahead; a failing availability source gives 15 min at low confidence', async () => {
  const { manager } = setup();
  await manager.queueRequestForDownloadingModel('t2v-A14B');
  const w = await manager.estimateWaitTime('t2v-A14B');
  assert.equal(w.queuePosition, 2);
  assert.ok(Math.abs(w.totalWaitTimeSeconds - (245.76 + 300)) < 1e-6);
  const broken = new IntelligentFallbackManager({
    availability: { snapshot: () => Promise.reject(new Error('disk scan failed')) },
    clock: new ManualClock(),
  });
  const fallback = await broken.estimateWaitTime('t2v-A14B');
  assert.equal(fallback.totalWaitTimeSeconds, 900);
  assert.equal(fallback.queuePosition, null, 'no position is made up when estimation fails');
  assert.equal(fallback.confidence, 'low');
  assert.match(fallback.factors[0]!, /disk scan failed/);
});

test('the queue orders by priority then arrival, 1-based, and reports status', async () => {
  const { manager, clock } = setup();
  const a = await manager.queueRequestForDownloadingModel('t2v-A14B', { priority: 'low' });
  await clock.advance(1000);
  const b = await manager.queueRequestForDownloadingModel('t2v-A14B', { priority: 'normal' });
  await clock.advance(1000);
  const c = await manager.queueRequestForDownloadingModel('i2v-A14B', { priority: 'critical', hasImage: true });
  assert.deepEqual([a.queuePosition, b.queuePosition, c.queuePosition], [1, 1, 1]);
  const d = await manager.queueRequestForDownloadingModel('t2v-A14B', { priority: 'normal' });
  assert.equal(d.queuePosition, 3);
  // The reference's QueueResult: success, requestId, queuePosition, estimatedWaitTime(Seconds), message, error.
  assert.equal(d.success, true);
  assert.equal(typeof d.requestId, 'string');
  assert.equal(d.estimatedWaitTimeSeconds, d.waitEstimate!.totalWaitTimeSeconds);
  assert.ok(d.estimatedWaitTimeSeconds! > 0);
  assert.match(d.message, /^Queued for t2v-A14B at position 3; it can start in about /);
  assert.equal(d.error, undefined);
  const status = await manager.getQueueStatus();
  assert.equal(status.totalQueuedRequests, 4);
  assert.deepEqual(status.queueByModel, { 't2v-A14B': 3, 'i2v-A14B': 1 });
  assert.deepEqual(status.queueByPriority, { critical: 1, high: 0, normal: 2, low: 1 });
  assert.equal(status.queueUtilization, 4);
  assert.equal(status.oldestRequestAgeSeconds, 2);
});

test('a full queue refuses with a clear error', async () => {
  const { manager } = setup(2);
  await manager.queueRequestForDownloadingModel('t2v-A14B');
  await manager.queueRequestForDownloadingModel('t2v-A14B');
  const third = await manager.queueRequestForDownloadingModel('t2v-A14B');
  assert.equal(third.success, false);
  assert.match(third.error!, /queue is full: 2 of 2 requests queued/);
  assert.match(third.message, /^Not queued: queue is full/);
  assert.equal(third.requestId, undefined);
  const queue = new InMemoryRequestQueue({ maxSize: 0 });
  await assert.rejects(queue.enqueue({ requestId: 'x', modelId: 'm', requirements: {} as never, priority: 'low', queuedAt: 0, expiresAt: 1 }), isQueueFullError);
});

test('processQueue releases requests whose model became available; a throwing callback keeps its request', async () => {
  const { manager, availability } = setup();
  const ran: string[] = [];
  const ok = await manager.queueRequestForDownloadingModel('t2v-A14B', {}, (r) => {
    ran.push(r.requestId);
  });
  const bad = await manager.queueRequestForDownloadingModel('t2v-A14B', {}, () => {
    throw new Error('backend busy');
  });
  const other = await manager.queueRequestForDownloadingModel('i2v-A14B', { hasImage: true });
  assert.deepEqual(await manager.processQueue(), { processed: [], failed: [], remaining: 3 });
  availability.set({ modelId: 't2v-A14B', status: 'available' });
  const result = await manager.processQueue();
  assert.deepEqual(result.processed, [ok.requestId]);
  assert.deepEqual(result.failed, [{ requestId: bad.requestId!, error: 'backend busy' }]);
  assert.equal(result.remaining, 2);
  assert.deepEqual(ran, [ok.requestId]);
  assert.ok(other.success);
});

test('requests expire after 24 hours', async () => {
  const { manager, clock } = setup();
  await manager.queueRequestForDownloadingModel('t2v-A14B');
  await clock.advance(24 * 3600 * 1000 - 1);
  assert.equal(await manager.cleanupExpiredRequests(), 0);
  await manager.queueRequestForDownloadingModel('t2v-A14B');
  await clock.advance(1);
  assert.equal(await manager.cleanupExpiredRequests(), 1);
  assert.equal((await manager.getQueueStatus()).totalQueuedRequests, 1);
});
