import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { LOCK_SPIN_MS, SqliteJobStore } from '../../src/adapters/sqlite-job-store.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { SCHEMA_VERSION, isSchemaTooNewError } from '../../src/adapters/sqlite-migrations.js';
import { InvalidCursorError, isJobAlreadyExistsError } from '../../src/runtime/job-store.js';
import { isQueueFullError, type QueueFullError } from '../../src/runtime/request-queue.js';
import { PRIORITIES } from '../../src/core/vocabulary.js';
import { newJob, seededRandom, storeFixture } from './job-fixtures.js';

test('an enqueued job is on disk when enqueue resolves: a store opened after close finds it whole', async (t) => {
  const { store, clock, open } = storeFixture(t);
  const accepted = await store.enqueue(newJob({ id: 'job-1', model: 'i2v-A14B', priority: 'high', maxWaitSeconds: 600 }));
  await store.close();

  const reopened = open();
  const found = await reopened.get('job-1');
  assert.deepEqual(found, accepted);
  assert.equal(found?.status, 'queued');
  assert.equal(found?.priority, 'high');
  assert.equal(found?.requestedModel, 'i2v-A14B');
  assert.equal(found?.deadline, clock.now() + 600_000);
  assert.equal(found?.maxAttempts, 3);
  assert.deepEqual(
    found?.timeline.map((e) => e.kind),
    ['accepted', 'planned', 'queued'],
  );
});

test('a second connection sees an enqueued job while the first is still open (committed, not buffered)', async (t) => {
  const { store, path } = storeFixture(t);
  await store.enqueue(newJob({ id: 'job-1' }));
  const other = new Database(path, { readonly: true });
  t.after(() => other.close());
  assert.deepEqual(other.prepare('SELECT id, status FROM jobs').all(), [{ id: 'job-1', status: 'queued' }]);
});

test('the database uses WAL journaling and the current schema version', async (t) => {
  const { path } = storeFixture(t);
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.ok(SCHEMA_VERSION >= 1);
});

test('a database written by a newer version is refused, not rewritten', async (t) => {
  const { path, open, store } = storeFixture(t);
  await store.close();
  const db = new Database(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(() => open(), (error) => isSchemaTooNewError(error) && error.found === SCHEMA_VERSION + 1);
});

test('a full queue refuses a job with the size and a retry hint, and stores nothing of it', async (t) => {
  const { store } = storeFixture(t, { maxQueueSize: 3, retryAfterSeconds: 120 });
  for (const id of ['a', 'b', 'c']) await store.enqueue(newJob({ id }));

  await assert.rejects(store.enqueue(newJob({ id: 'd' })), (error) => {
    assert.ok(isQueueFullError(error));
    const full = error as QueueFullError;
    assert.equal(full.size, 3);
    assert.equal(full.maxSize, 3);
    assert.equal(full.retryAfterSeconds, 120);
    assert.match(full.message, /3 of 3/);
    return true;
  });
  assert.equal(await store.get('d'), null);
  assert.equal((await store.counts()).queued, 3);

  // A running job no longer waits, so it frees a place.
  await store.claimNext({ owner: 'worker-1' });
  await store.enqueue(newJob({ id: 'd' }));
  assert.equal((await store.get('d'))?.status, 'queued');
});

test('the queue limit counts jobs waiting for a model too, with the documented default of 100', async (t) => {
  const { store } = storeFixture(t);
  assert.equal(store.maxQueueSize, 100);
  for (let i = 0; i < 99; i++) await store.enqueue(newJob());
  await store.enqueue({ ...newJob({ id: 'parked' }), initialState: 'waiting_for_model' });
  await assert.rejects(store.enqueue(newJob()), (error) => isQueueFullError(error) && error.size === 100 && error.retryAfterSeconds === 300);
});

test('a job id can be accepted once', async (t) => {
  const { store } = storeFixture(t);
  await store.enqueue(newJob({ id: 'same' }));
  await assert.rejects(store.enqueue(newJob({ id: 'same' })), (error) => isJobAlreadyExistsError(error) && error.jobId === 'same');
  assert.equal((await store.counts()).queued, 1);
});

test('list pages through jobs in acceptance order with a cursor, filtered by state, either way round', async (t) => {
  const { store } = storeFixture(t);
  for (const id of ['a', 'b', 'c', 'd', 'e']) await store.enqueue(newJob({ id }));
  await store.claimNext({ owner: 'worker-1' }); // a runs

  const first = await store.list({ limit: 2 });
  assert.deepEqual(first.jobs.map((j) => j.id), ['a', 'b']);
  assert.ok(first.nextCursor);
  const second = await store.list({ limit: 2, cursor: first.nextCursor });
  assert.deepEqual(second.jobs.map((j) => j.id), ['c', 'd']);
  const last = await store.list({ limit: 2, cursor: second.nextCursor ?? undefined });
  assert.deepEqual(last.jobs.map((j) => j.id), ['e']);
  assert.equal(last.nextCursor, null);

  assert.deepEqual((await store.list({ status: 'queued' })).jobs.map((j) => j.id), ['b', 'c', 'd', 'e']);
  assert.deepEqual((await store.list({ status: ['running', 'succeeded'] })).jobs.map((j) => j.id), ['a']);
  assert.deepEqual((await store.list({ order: 'newest_first', limit: 3 })).jobs.map((j) => j.id), ['e', 'd', 'c']);
  await assert.rejects(store.list({ cursor: 'not-a-cursor' }), InvalidCursorError);
});

test('counts by state and the queue snapshot by model and priority', async (t) => {
  const { store } = storeFixture(t);
  await store.enqueue(newJob({ model: 't2v-A14B', priority: 'high' }));
  await store.enqueue(newJob({ model: 't2v-A14B', priority: 'low' }));
  await store.enqueue(newJob({ model: 'ti2v-5B', priority: 'high' }));
  await store.enqueue({ ...newJob({ model: 'i2v-A14B', priority: 'critical' }), initialState: 'waiting_for_model' });
  await store.claimNext({ owner: 'worker-1', readyModels: new Set(['ti2v-5B']) });

  assert.deepEqual(await store.counts(), { queued: 2, waiting_for_model: 1, running: 1, succeeded: 0, failed: 0, cancelled: 0, expired: 0 });
  const snapshot = await store.queueSnapshot();
  assert.equal(snapshot.total, 3);
  assert.deepEqual(snapshot.byModel['t2v-A14B'], {
    queued: { critical: 0, high: 1, normal: 0, low: 1 },
    waitingForModel: { critical: 0, high: 0, normal: 0, low: 0 },
    total: 2,
  });
  assert.deepEqual(snapshot.byModel['i2v-A14B']?.waitingForModel, { critical: 1, high: 0, normal: 0, low: 0 });
  assert.equal(snapshot.byModel['ti2v-5B'], undefined, 'a running job is not in the queue');
});

test('the queue snapshot kept by triggers matches a recount of the queue after every kind of change', async (t) => {
  const { store, clock } = storeFixture(t, { maxQueueSize: 1000, maxAttempts: 2 });
  const random = seededRandom(7);
  const models = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const recount = async (): Promise<Record<string, string>> => {
    const counts: Record<string, number> = {};
    for (const status of ['queued', 'waiting_for_model'] as const) {
      for (const job of await store.listQueue({ status })) {
        const key = `${status}/${job.waitingFor ?? job.modelUsed}/${job.priority}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }
    return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, String(n)]));
  };
  const fromSnapshot = async (): Promise<Record<string, string>> => {
    const counts: Record<string, string> = {};
    for (const [model, c] of Object.entries((await store.queueSnapshot()).byModel)) {
      for (const [status, byPriority] of [['queued', c.queued], ['waiting_for_model', c.waitingForModel]] as const) {
        for (const [priority, n] of Object.entries(byPriority)) if (n > 0) counts[`${status}/${model}/${priority}`] = String(n);
      }
    }
    return counts;
  };
  for (let step = 0; step < 400; step++) {
    await clock.advance(1000);
    const roll = random();
    const running = (await store.list({ status: 'running' })).jobs;
    const queued = (await store.list({ status: ['queued', 'waiting_for_model'] })).jobs;
    if (roll < 0.35 || queued.length === 0) {
      const job = newJob({ model: pick(models), priority: pick(PRIORITIES), ...(random() < 0.2 ? { maxWaitSeconds: 5 } : {}) });
      await store.enqueue(random() < 0.3 ? { ...job, initialState: 'waiting_for_model', waitingFor: pick(models) } : job);
    } else if (roll < 0.5) {
      await store.claimNext({ owner: 'w' });
    } else if (roll < 0.58 && running.length > 0) {
      await store.fail(pick(running).id, 'w', { message: 'boom' }, { retry: true });
    } else if (roll < 0.64 && running.length > 0) {
      await store.complete(pick(running).id, 'w', { path: '/tmp/out.gif', mediaType: 'image/gif', sizeBytes: 1, isPreview: false });
    } else if (roll < 0.7 && running.length > 0) {
      await store.setWaitingForModel(pick(running).id, { modelId: pick(models), owner: 'w', message: 'model gone' });
    } else if (roll < 0.78) {
      await store.cancel(pick(queued).id, 'changed my mind');
    } else if (roll < 0.86) {
      await store.releaseWaiting(pick(models));
    } else if (roll < 0.92) {
      await store.expireDue();
    } else {
      await store.purgeFinished(clock.now());
    }
    assert.deepEqual(await fromSnapshot(), await recount(), `after step ${step}`);
  }
});

test('opening a database of schema version 1 fills the queue counts from the jobs already there', async (t) => {
  const { store, path, open } = storeFixture(t);
  await store.enqueue(newJob({ model: 't2v-A14B', priority: 'high' }));
  await store.enqueue(newJob({ model: 't2v-A14B', priority: 'high' }));
  await store.enqueue({ ...newJob({ model: 'ti2v-5B', priority: 'low' }), initialState: 'waiting_for_model', waitingFor: 'i2v-A14B' });
  const before = await store.queueSnapshot();
  await store.close();
  const db = new Database(path);
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'jobs_queue_count_%'").all() as Array<{ name: string }>) {
    db.exec(`DROP TRIGGER ${name}`);
  }
  db.exec('DROP TABLE job_queue_counts');
  db.pragma('user_version = 1');
  db.close();

  const migrated = await open().queueSnapshot();
  assert.deepEqual(migrated.byModel, before.byModel);
  assert.equal(migrated.byModel['t2v-A14B']?.queued.high, 2);
  assert.equal(migrated.byModel['i2v-A14B']?.waitingForModel.low, 1);
});

test('the oldest waiting job is the one accepted first, whatever its place in claim order', async (t) => {
  const { store, clock } = storeFixture(t);
  assert.equal(await store.oldestWaitingAcceptedAt(), null);
  const start = clock.now();
  await store.enqueue({ ...newJob({ id: 'waits', model: 'i2v-A14B' }), initialState: 'waiting_for_model' });
  await clock.advance(1000);
  await store.enqueue(newJob({ id: 'low', priority: 'low' }));
  await clock.advance(4000);
  await store.enqueue(newJob({ id: 'critical', priority: 'critical' }));
  assert.equal(await store.oldestWaitingAcceptedAt(), start, 'a job waiting for a model counts');
  await store.cancel('waits', 'no longer needed');
  assert.equal((await store.listQueue())[0]?.id, 'critical');
  assert.equal(await store.oldestWaitingAcceptedAt(), start + 1000, 'the low job, not the head of the queue');
  await store.claimNext({ owner: 'w' });
  await store.claimNext({ owner: 'w' });
  assert.equal(await store.oldestWaitingAcceptedAt(), null);
});

test('options are checked: maxQueueSize and maxAttempts must be whole and positive', async (t) => {
  const { open, store } = storeFixture(t);
  assert.throws(() => open({ maxQueueSize: 0 }), RangeError);
  assert.throws(() => open({ maxAttempts: 1.5 }), RangeError);
  await assert.rejects(store.enqueue({ ...newJob(), maxAttempts: 0 }), RangeError);
});

test('a store on a path in a folder that does not exist yet creates the folder', async (t) => {
  const { path, clock } = storeFixture(t);
  const nested = `${path}.d/deeper/jobs.sqlite`;
  const store = new SqliteJobStore({ path: nested, clock });
  try {
    await store.enqueue(newJob({ id: 'x' }));
    assert.equal((await store.get('x'))?.id, 'x');
  } finally {
    await store.close();
  }
});

/** A log sync the test releases by hand; once `releaseAll` is set, syncs (e.g. at close) finish at once. */
function gatedSync(): { syncLog: (path: string) => Promise<void>; paths: string[]; release: (index: number, error?: Error) => void; releaseAll: () => void } {
  const paths: string[] = [];
  const settle: Array<(error?: Error) => void> = [];
  let open = false;
  return {
    paths,
    syncLog: (path) => {
      paths.push(path);
      if (open) return Promise.resolve();
      return new Promise<void>((resolve, reject) => settle.push((error) => (error ? reject(error) : resolve())));
    },
    release: (index, error) => settle[index]?.(error),
    releaseAll: () => {
      open = true;
      for (const s of settle) s();
    },
  };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a durable change resolves only once the log is synced, and changes made meanwhile share the next sync', async (t) => {
  const gate = gatedSync();
  const { store, path } = storeFixture(t, { syncLog: gate.syncLog });
  t.after(() => gate.releaseAll());
  let firstDone = false;
  const first = store.enqueue(newJob({ id: 'first' })).then(() => (firstDone = true));
  await settled();
  assert.deepEqual(gate.paths, [`${path}-wal`]);
  assert.equal(firstDone, false, 'not resolved before its sync');

  let laterDone = 0;
  const later = Array.from({ length: 10 }, (_, i) => store.enqueue(newJob({ id: `later-${i}` })).then(() => laterDone++));
  await settled();
  assert.equal(gate.paths.length, 1, 'the sync running may predate their commits: they wait for the next one');
  gate.release(0);
  await first;
  await settled();
  assert.equal(laterDone, 0, 'the first sync does not count for changes committed after it started');
  assert.equal(gate.paths.length, 2, 'one sync for the ten');
  gate.release(1);
  await Promise.all(later);

  await store.claimNext({ owner: 'worker-1' });
  await store.renewLease('first', 'worker-1');
  await store.updateProgress('first', 'worker-1', 0.5, 'halfway');
  assert.equal(gate.paths.length, 2, 'claims, lease renewals and progress do not wait for a sync');
  gate.releaseAll();
});

test('concurrent enqueues are stored together with one sync; a refused one does not undo the others', async (t) => {
  const gate = gatedSync();
  const { store, open } = storeFixture(t, { syncLog: gate.syncLog, maxQueueSize: 4 });
  t.after(() => gate.releaseAll());
  const ids = ['a', 'b', 'a', 'c', 'd', 'e'];
  const results = Promise.allSettled(ids.map((id) => store.enqueue(newJob({ id }))));
  await settled();
  assert.equal(gate.paths.length, 1, 'one sync for the whole batch');
  gate.release(0);
  const outcomes = await results;
  assert.deepEqual(
    outcomes.map((o) => (o.status === 'fulfilled' ? o.value.id : (o.reason as Error).name)),
    ['a', 'b', 'JobAlreadyExistsError', 'c', 'd', 'QueueFullError'],
  );
  gate.releaseAll();
  await store.close();
  const reopened = open();
  assert.deepEqual((await reopened.list()).jobs.map((j) => j.id), ['a', 'b', 'c', 'd']);
  const accepted = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  assert.deepEqual(await Promise.all(accepted.map((j) => reopened.get(j.id))), accepted, 'each job resolved as it reads back');
});

test('a failed log sync rejects the changes waiting on it; the next change syncs again', async (t) => {
  const gate = gatedSync();
  const { store } = storeFixture(t, { syncLog: gate.syncLog });
  t.after(() => gate.releaseAll());
  const failing = store.enqueue(newJob({ id: 'a' }));
  await settled();
  gate.release(0, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
  await assert.rejects(failing, /EIO/);
  const next = store.enqueue(newJob({ id: 'b' }));
  await settled();
  assert.equal(gate.paths.length, 2);
  gate.release(1);
  assert.equal((await next).id, 'b');
  gate.releaseAll();
});

test('the log is synced with fdatasync by default: the database runs at synchronous NORMAL and the WAL file exists', async (t) => {
  const { store, path } = storeFixture(t);
  await store.enqueue(newJob({ id: 'job' }));
  const level = (store as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true });
  assert.equal(level, 1, 'NORMAL: commits do not sync; the store syncs the log itself');
  assert.ok(existsSync(`${path}-wal`));
});

/**
 * Another process holding the job database's write lock: `BEGIN IMMEDIATE` in a child process, until `release()`
 * commits it (resolving once the child has committed and closed).
 */
async function holdWriteLock(path: string): Promise<{ release: () => Promise<void> }> {
  const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const script = `
    const db = new (require(${JSON.stringify(betterSqlite)}))(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    process.stdin.once('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(line.toString().trim(), 'locked');
  return {
    release: async () => {
      child.stdin.write('release\n');
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0);
    },
  };
}

test('a change waits while another process holds the write lock, with the event loop free, and lands after', async (t) => {
  const lockClock = new ManualClock();
  const { store, path } = storeFixture(t, { lockClock });
  await store.enqueue(newJob({ id: 'before' }));
  const holder = await holdWriteLock(path);
  let outcome: 'pending' | 'stored' | 'failed' = 'pending';
  const started = performance.now();
  const during = store.enqueue(newJob({ id: 'during' })).then(
    (job) => ((outcome = 'stored'), job),
    (error: unknown) => ((outcome = 'failed'), Promise.reject(error)),
  );
  // Four seconds of lock clock: the store keeps trying (SQLite spins at most LOCK_SPIN_MS per try) and keeps waiting.
  for (let i = 0; i < 40; i++) await lockClock.advance(100);
  assert.equal(outcome, 'pending', 'still waiting for the lock, not failed');
  assert.ok(performance.now() - started < 4000, 'SQLite did not block for its whole busy timeout');
  assert.equal((await store.get('before'))?.status, 'queued', 'reads go on meanwhile (WAL readers never wait)');
  await holder.release();
  await lockClock.advance(LOCK_SPIN_MS * 10);
  assert.equal((await during).id, 'during');
  assert.equal((await store.get('during'))?.status, 'queued');
});

test('a change fails with SQLITE_BUSY once it has waited lockWaitMs for another process, and the store goes on', async (t) => {
  const lockClock = new ManualClock();
  const { store, path } = storeFixture(t, { lockClock, lockWaitMs: 500 });
  await store.enqueue(newJob({ id: 'before' }));
  const holder = await holdWriteLock(path);
  const refused = store.enqueue(newJob({ id: 'refused' }));
  refused.catch(() => undefined);
  for (let i = 0; i < 6; i++) await lockClock.advance(100);
  await assert.rejects(refused, (error: unknown) => (error as { code?: string }).code === 'SQLITE_BUSY');
  await holder.release();
  assert.equal(await store.get('refused'), null, 'nothing of the refused change was written');
  assert.equal((await store.enqueue(newJob({ id: 'after' }))).id, 'after');
});
