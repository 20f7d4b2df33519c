/**
 * One process's event log and a client following it: ids in order, a resume replays exactly what came after the
 * client's last id, each once, then live events; ids the log no longer keeps, or from another run, are a gap.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventEmitter } from 'cockatiel';
import { compareEventIds, parseEventId } from '../../src/core/event-ids.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import type { EventLog, EventsAfter, LoggedEvent } from '../../src/runtime/event-log.js';
import { followEventLog } from '../../src/runtime/event-following.js';
import { LocalEventLog } from '../../src/runtime/local-event-log.js';

const progress = (n: number): UnderstudyEvent => ({ type: 'job.progress', at: n, jobId: 'job-1', progress: n / 100, message: `step ${n}` });

function engine(kept?: number, clock = new ManualClock()) {
  const events = new EventEmitter<UnderstudyEvent>();
  const log = new LocalEventLog({ events: events.addListener, clock, ...(kept !== undefined ? { kept } : {}) });
  const ids: string[] = [];
  log.onLogged(({ id }) => ids.push(id));
  return { events, log, ids, emit: (from: number, to: number) => { for (let n = from; n <= to; n++) events.emit(progress(n)); } };
}

function client(log: EventLog, since?: string, pageSize?: number) {
  const got: LoggedEvent[] = [];
  const gaps: string[] = [];
  const follow = followEventLog(log, { ...(since ? { since } : {}), ...(pageSize ? { pageSize } : {}), deliver: (e) => got.push(e), gap: (r) => gaps.push(r) });
  return { got, gaps, follow, steps: () => got.map((e) => (e.event as { at: number }).at) };
}

describe('event ids', () => {
  test('parse as two whole numbers and order by both parts', () => {
    assert.deepEqual(parseEventId('1700000000000-3'), { ms: 1700000000000n, seq: 3n });
    for (const bad of ['', '12', '1-', '-1', '1-2-3', 'a-1', '1.5-2', ' 1-2', '18446744073709551616-0']) assert.equal(parseEventId(bad), undefined, bad);
    assert.ok(compareEventIds('9-0', '10-0') < 0, 'numbers, not strings');
    assert.ok(compareEventIds('10-2', '10-10') < 0);
    assert.equal(compareEventIds('10-2', '10-2'), 0);
    assert.throws(() => compareEventIds('10-2', 'x'), /not an event id: x/);
  });
});

describe('LocalEventLog with followEventLog', () => {
  test('every event gets the next id of this run, in order', () => {
    const clock = new ManualClock(5_000);
    const { ids, emit } = engine(undefined, clock);
    emit(1, 3);
    assert.deepEqual(ids, ['5000-1', '5000-2', '5000-3']);
  });

  test('a client resuming after its last id gets what came after, each once, in order, then live events', async () => {
    const { log, ids, emit } = engine();
    emit(1, 5);
    const resumed = client(log, ids[1], 2); // saw 1 and 2; pages of two
    emit(6, 7); // published while it catches up: held, not lost, not doubled
    await resumed.follow.ready;
    emit(8, 9);
    assert.deepEqual(resumed.steps(), [3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(resumed.got.map((e) => e.id), ids.slice(2));
    assert.deepEqual(resumed.gaps, []);
  });

  test('a client resuming at the newest id gets live events only; one without since, live from now', async () => {
    const { log, ids, emit } = engine();
    emit(1, 2);
    const atNewest = client(log, ids[1]);
    const fresh = client(log);
    await Promise.all([atNewest.follow.ready, fresh.follow.ready]);
    emit(3, 3);
    assert.deepEqual(atNewest.steps(), [3]);
    assert.deepEqual(fresh.steps(), [3]);
  });

  test('an id older than the ring keeps is a gap first, then live events only', async () => {
    const { log, ids, emit } = engine(3);
    emit(1, 2);
    const first = ids[0] as string;
    emit(3, 6); // the ring keeps 4, 5, 6: 2 is gone
    const late = client(log, first);
    await late.follow.ready;
    assert.equal(late.gaps.length, 1);
    assert.match(late.gaps[0] as string, /no longer kept \(the last 3 are\)/);
    assert.deepEqual(late.steps(), [], 'nothing replayed after a gap: the client re-reads state');
    emit(7, 7);
    assert.deepEqual(late.steps(), [7]);
    // The ring keeps 5, 6, 7 now: the id of 4 (its successor kept) is no gap; the id of 3 is one.
    const edge = client(log, ids[3]);
    const past = client(log, ids[2]);
    await Promise.all([edge.follow.ready, past.follow.ready]);
    assert.deepEqual(edge.gaps, []);
    assert.deepEqual(edge.steps(), [5, 6, 7]);
    assert.equal(past.gaps.length, 1);
  });

  test('an id of another run (before a restart) or ahead of the newest is a gap', async () => {
    const before = engine(undefined, new ManualClock(1_000));
    before.emit(1, 2);
    const restarted = engine(undefined, new ManualClock(2_000));
    restarted.emit(1, 1);
    const fromOldRun = client(restarted.log, before.ids[1]);
    const ahead = client(restarted.log, '2000-99');
    await Promise.all([fromOldRun.follow.ready, ahead.follow.ready]);
    assert.match(fromOldRun.gaps[0] as string, /another run/);
    assert.match(ahead.gaps[0] as string, /ahead of the newest/);
  });

  test('a log that cannot be read stops the follow: ready rejects, and nothing more is delivered', async () => {
    const { log, emit } = engine();
    const failing: EventLog = { onLogged: log.onLogged, after: (): Promise<EventsAfter> => Promise.reject(new Error('store unavailable')) };
    const c = client(failing, '1-1');
    await assert.rejects(c.follow.ready, /store unavailable/);
    emit(1, 1);
    assert.deepEqual(c.got, []);
  });

  test('kept must be a whole number ≥ 1', () => {
    assert.throws(() => engine(0), /kept must be a whole number ≥ 1, got 0/);
  });
});
