/**
 * A job stored before the records took the reference's field names (API 1.1) reads back under the new names: its
 * request's maxWaitSeconds is its maxWaitTimeSeconds, its plan's estimatedSeconds, confidence and estimatedWaitTime
 * are estimatedWaitTimeSeconds, confidenceScore and waitEstimate, so an upgrade loses nothing of an accepted job.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { planFallback, PlannerConfigSchema } from '../../src/core/planning.js';
import { createCatalog } from '../../src/core/catalog.js';
import { withDefaults } from '../../src/core/requirements.js';
import { upgradeLegacyNames } from '../../src/core/legacy-record-names.js';
import { storeFixture } from './job-fixtures.js';

/** A body as the store wrote it before API 1.1: the same job, under the old field names. */
function legacyBody(current: string): string {
  const body = JSON.parse(current) as { request: { requirements: Record<string, unknown> }; plan: Record<string, unknown> };
  const { maxWaitTimeSeconds, ...requirements } = body.request.requirements;
  const { estimatedWaitTimeSeconds, confidenceScore, waitEstimate, ...plan } = body.plan;
  const { totalWaitTimeSeconds, downloadTimeSeconds, queueWaitTimeSeconds, queuePosition: _position, ...wait } = waitEstimate as Record<string, unknown>;
  const { maxWaitTimeSeconds: _m, ...planRequirements } = plan.requirements as Record<string, unknown>;
  return JSON.stringify({
    ...body,
    request: { ...body.request, requirements: { ...requirements, maxWaitSeconds: maxWaitTimeSeconds } },
    plan: {
      ...plan,
      requirements: { ...planRequirements, maxWaitSeconds: maxWaitTimeSeconds },
      estimatedSeconds: estimatedWaitTimeSeconds,
      confidence: confidenceScore,
      estimatedWaitTime: { ...wait, estimatedSeconds: totalWaitTimeSeconds, downloadSeconds: downloadTimeSeconds, queueSeconds: queueWaitTimeSeconds },
    },
  });
}

test('a job stored under the old field names reads back under the new ones', async (t) => {
  const { store, path, open } = storeFixture(t);
  const requirements = withDefaults({ modelType: 't2v-A14B', maxWaitTimeSeconds: 1800 });
  const plan = planFallback({ catalog: createCatalog(), config: PlannerConfigSchema.parse({}), requirements, availability: new Map() });
  assert.equal(plan.strategyType, 'download_and_retry');
  const accepted = await store.enqueue({ request: { prompt: 'a fox', requirements }, plan, initialState: 'waiting_for_model' });
  await store.close();

  const db = new Database(path);
  const row = db.prepare('SELECT body FROM jobs WHERE id = ?').get(accepted.id) as { body: string };
  db.prepare('UPDATE jobs SET body = ? WHERE id = ?').run(legacyBody(row.body), accepted.id);
  db.close();

  const job = await open().get(accepted.id);
  assert.equal(job?.request.requirements.maxWaitTimeSeconds, 1800);
  assert.equal(job?.plan.requirements.maxWaitTimeSeconds, 1800);
  assert.equal(job?.plan.estimatedWaitTimeSeconds, plan.estimatedWaitTimeSeconds);
  assert.equal(job?.plan.confidenceScore, plan.confidenceScore);
  assert.equal(job?.plan.waitEstimate?.totalWaitTimeSeconds, plan.waitEstimate?.totalWaitTimeSeconds);
  assert.equal(job?.plan.waitEstimate?.downloadTimeSeconds, plan.waitEstimate?.downloadTimeSeconds);
  assert.equal(job?.plan.waitEstimate?.queuePosition, null, 'no position is made up for a record that had none');
  for (const old of ['estimatedSeconds', 'confidence', 'estimatedWaitTime']) assert.equal(old in job!.plan, false, old);
});

test('current records pass through untouched', () => {
  const requirements = withDefaults({ modelType: 'ti2v-5B' });
  const plan = planFallback({ catalog: createCatalog(), config: PlannerConfigSchema.parse({}), requirements, availability: new Map() });
  const request = { prompt: 'x', requirements };
  const upgraded = upgradeLegacyNames(request, plan);
  assert.equal(upgraded.plan, plan);
  assert.equal(upgraded.request, request);
});
