import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { SqliteJobStore } from '../../src/adapters/sqlite/index.js';
import { LOCK_SPIN_MS } from '../../src/adapters/sqlite/lock-retry.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { SCHEMA_VERSION, isSchemaTooNewError } from '../../src/adapters/sqlite/migrations.js';
import { newJob, storeFixture } from './job-fixtures.js';

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

test('pipelined: a batch commits while the previous one syncs, and is acknowledged only after a sync that started after its commit', async (t) => {
  const gate = gatedSync();
  t.after(() => gate.releaseAll()); // before the store's close, which waits for the syncs
  const { store, path } = storeFixture(t, { syncLog: gate.syncLog });
  const done = new Set<string>();
  const first = store.enqueue(newJob({ id: 'first' })).then(() => done.add('first'));
  await settled();
  assert.equal(gate.paths.length, 1, 'the first batch syncs');

  const second = store.enqueue(newJob({ id: 'second' })).then(() => done.add('second'));
  const note = store.appendTimeline('first', { kind: 'estimate', message: 'written while the first batch syncs' }).then(() => done.add('note'));
  await settled();
  const other = new Database(path, { readonly: true });
  t.after(() => other.close());
  assert.deepEqual(other.prepare('SELECT id FROM jobs ORDER BY seq').all(), [{ id: 'first' }, { id: 'second' }], 'the second batch committed during the first sync');
  assert.equal(gate.paths.length, 1, 'its sync waits for the running one');
  assert.deepEqual([...done], [], 'nothing acknowledged before its sync');

  gate.release(0);
  await first;
  await settled();
  assert.deepEqual([...done], ['first'], 'the first sync started before the second commit: it does not acknowledge it');
  assert.equal(gate.paths.length, 2);
  gate.release(1);
  await Promise.all([second, note]);
  assert.deepEqual([...done].sort(), ['first', 'note', 'second']);
});

test('a durable change asked for before a read or a claim commits before it, in the order asked, and still waits for its sync', async (t) => {
  const gate = gatedSync();
  t.after(() => gate.releaseAll()); // before the store's close, which waits for the syncs
  const { store } = storeFixture(t, { syncLog: gate.syncLog });
  let acknowledged = false;
  const accepted = store.enqueue(newJob({ id: 'job' })).then(() => (acknowledged = true));
  assert.equal((await store.get('job'))?.status, 'queued', 'a read sees the change asked for before it');
  const noted = store.appendTimeline('job', { kind: 'estimate', message: 'before the claim' });
  const claimed = await store.claimNext({ owner: 'worker-1' });
  assert.deepEqual(
    claimed?.timeline.map((e) => e.kind).slice(-2),
    ['estimate', 'started'],
    'the claim follows the change asked for before it',
  );
  await settled();
  assert.equal(acknowledged, false, 'committed early, acknowledged only after its sync');
  gate.releaseAll();
  await Promise.all([accepted, noted]);
});

test('enqueueWithPosition gives the place the job had when it was inserted, even when a claim follows at once', async (t) => {
  const { store } = storeFixture(t);
  await store.enqueue(newJob({ id: 'a' }));
  await store.enqueue(newJob({ id: 'b' }));
  const accepted = store.enqueueWithPosition(newJob({ id: 'c' }));
  const claim = store.claimNext({ owner: 'worker-1' });
  assert.equal((await claim)?.id, 'a');
  assert.equal((await accepted).queuePosition, 3, 'a and b were ahead when c was inserted');
  assert.equal(await store.queuePosition('c'), 2, 'the claim came after');
  const waiting = await store.enqueueWithPosition({ ...newJob({ id: 'w' }), initialState: 'waiting_for_model', waitingFor: 't2v-A14B' });
  assert.equal(waiting.queuePosition, null, 'a job waiting for its model has no queue position');
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
  const level = (store as unknown as { db: { db: Database.Database } }).db.db.pragma('synchronous', { simple: true });
  assert.equal(level, 1, 'NORMAL: commits do not sync; the store syncs the log itself');
  assert.ok(existsSync(`${path}-wal`));
});

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

