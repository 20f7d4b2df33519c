/** Shared set-up of the job store tests: a store on a real SQLite file in a temp folder, driven by a ManualClock. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteJobStore, type SqliteJobStoreOptions } from '../../src/adapters/sqlite/index.js';
import type { FallbackStrategy } from '../../src/core/planning.js';
import { withDefaults, type GenerationRequirements } from '../../src/core/requirements.js';
import type { Priority } from '../../src/core/vocabulary.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import type { NewJob } from '../../src/runtime/job.js';
import type { JobStore } from '../../src/runtime/job-store.js';
import type { ContractFixture } from './job-store-contract.js';

/** A store under test, its clock and file, and a way to open more stores on the same file. */
export interface StoreFixture extends ContractFixture {
  store: SqliteJobStore;
  clock: ManualClock;
  path: string;
  /** Opens another store on the same file (closed when the test ends). */
  open(options?: Partial<SqliteJobStoreOptions>): SqliteJobStore;
}

/** Opens a store on a new temp file; every store opened through the fixture is closed and the folder removed after the test. */
export function storeFixture(t: TestContext, options: Partial<SqliteJobStoreOptions> = {}): StoreFixture {
  const dir = mkdtempSync(join(tmpdir(), 'understudy-jobs-'));
  const path = join(dir, 'jobs.sqlite');
  const clock = new ManualClock();
  const opened: SqliteJobStore[] = [];
  const open = (more: Partial<SqliteJobStoreOptions> = {}): SqliteJobStore => {
    const store = new SqliteJobStore({ path, clock, ...options, ...more });
    opened.push(store);
    return store;
  };
  t.after(async () => {
    for (const store of opened) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const orphanedTimelineEntries = async (): Promise<number> => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM job_timeline WHERE job_seq NOT IN (SELECT seq FROM jobs)').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  return { store: open(), clock, path, open, orphanedTimelineEntries };
}

/** Requirements with the documented defaults. */
export function requirements(model = 't2v-A14B', extra: Partial<GenerationRequirements> = {}): GenerationRequirements {
  return withDefaults({ modelType: model, ...extra });
}

/** A plan that runs `model` as requested. */
export function planFor(model: string, req: GenerationRequirements): FallbackStrategy {
  return {
    strategyType: 'as_requested',
    situation: 'available',
    model,
    recommendedAction: `run ${model} as requested`,
    estimatedWaitTimeSeconds: 120,
    userMessage: `${model} is ready; result in about 2 min.`,
    canQueueRequest: true,
    queueRequestedModel: false,
    confidenceScore: 0.95,
    fallbackOptions: [],
    requirementsAdjustments: [],
    requirements: req,
    isPreview: false,
  };
}

/** What a test varies about a new job. */
export interface JobSpec {
  id?: string;
  model?: string;
  priority?: Priority;
  /** The requirements' maxWaitTimeSeconds. */
  maxWaitSeconds?: number;
  acceptedAt?: number;
  maxAttempts?: number;
}

/** A new job for `model` at `priority`. */
export function newJob(spec: JobSpec = {}): NewJob {
  const model = spec.model ?? 't2v-A14B';
  const req = requirements(model, {
    priority: spec.priority ?? 'normal',
    ...(spec.maxWaitSeconds !== undefined ? { maxWaitTimeSeconds: spec.maxWaitSeconds } : {}),
  });
  const job: NewJob = { request: { prompt: `a video for ${spec.id ?? model}`, requirements: req }, plan: planFor(model, req) };
  if (spec.id !== undefined) job.id = spec.id;
  if (spec.acceptedAt !== undefined) job.acceptedAt = spec.acceptedAt;
  if (spec.maxAttempts !== undefined) job.maxAttempts = spec.maxAttempts;
  return job;
}

/** Claims every ready job in turn and returns their ids in claim order. */
export async function drain(store: JobStore, owner = 'worker-1', now?: number): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const job = await store.claimNext(now === undefined ? { owner } : { owner, now });
    if (!job) return ids;
    ids.push(job.id);
  }
}

export { seededRandom } from '../../src/adapters/simulated-faults.js';
