import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { createCatalog } from '../../src/core/catalog.js';
import { ClusterDownloads, isWorkerDownloadError } from '../../src/runtime/cluster/cluster-downloads.js';
import type { ControlRequestState, WorkerControl, WorkerControlHandlers, WorkerControlServer } from '../../src/runtime/cluster/worker-control.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { InMemoryWorkerDirectory } from '../../src/runtime/in-memory-worker-directory.js';
import { heartbeat } from './worker-heartbeats.js';

const GIB = 1024 ** 3;
const TTL = 15_000;

/** The control port in memory: records requests; a test ends one as the worker would. */
class RecordedControl implements WorkerControl {
  readonly requests: Array<{ workerId: string; modelId: string }> = [];
  private readonly states = new Map<string, ControlRequestState>();

  requestDownload(workerId: string, modelId: string): Promise<void> {
    const key = `${workerId}/${modelId}`;
    if ((this.states.get(key) ?? 'none') === 'none') {
      this.requests.push({ workerId, modelId });
      this.states.set(key, 'pending');
    }
    return Promise.resolve();
  }

  downloadState(workerId: string, modelId: string): Promise<ControlRequestState> {
    return Promise.resolve(this.states.get(`${workerId}/${modelId}`) ?? 'none');
  }

  /** The worker ended the request (its download finished or failed). */
  end(workerId: string, modelId: string): void {
    this.states.set(`${workerId}/${modelId}`, 'none');
  }

  serve(_workerId: string, _handlers: WorkerControlHandlers): WorkerControlServer {
    throw new Error('not served in these tests');
  }
}

describe('ClusterDownloads', () => {
  let clock: ManualClock;
  let directory: InMemoryWorkerDirectory;
  let control: RecordedControl;
  let events: Array<Extract<UnderstudyEvent, { type: 'download.placed' }>>;
  let notes: Array<string | null>;
  let waitingCount: number;
  let downloads: ClusterDownloads;
  let shutdown: AbortController;

  beforeEach(() => {
    clock = new ManualClock();
    directory = new InMemoryWorkerDirectory(clock);
    control = new RecordedControl();
    events = [];
    notes = [];
    waitingCount = 1;
    shutdown = new AbortController();
    downloads = new ClusterDownloads({
      directory,
      control,
      catalog: createCatalog(),
      clock,
      pollMs: 1000,
      settleMs: 5000,
      emit: (e) => void (e.type === 'download.placed' && events.push(e)),
      waiting: {
        count: () => Promise.resolve(waitingCount),
        note: (placed) => {
          notes.push(placed.workerId);
          return Promise.resolve();
        },
      },
    });
  });

  /** Settles the promise's outcome without letting a rejection go unhandled. */
  function outcome(p: Promise<void>): { readonly value: 'pending' | 'resolved' | Error } {
    let value: 'pending' | 'resolved' | Error = 'pending';
    p.then(
      () => (value = 'resolved'),
      (e: Error) => (value = e),
    );
    return {
      get value() {
        return value;
      },
    };
  }

  test('places the download on the worker whose disk and GPU fit, asks it once, and resolves when its beat shows the model', async () => {
    await directory.announce(heartbeat('a-small-gpu', { vramTotalGb: 4 }), TTL);
    await directory.announce(heartbeat('b-no-disk', {}, { diskFreeBytes: 3 * GIB }), TTL);
    await directory.announce(heartbeat('c-fits'), TTL);
    const placed = outcome(downloads.place('i2v-A14B', shutdown.signal));
    await clock.advance(3000);
    assert.deepEqual(control.requests, [{ workerId: 'c-fits', modelId: 'i2v-A14B' }]);
    assert.deepEqual(events.map((e) => e.workerId), ['c-fits']);
    assert.match(events[0]?.message ?? '', /i2v-A14B downloads on c-fits: it fits/);
    assert.equal(placed.value, 'pending');
    assert.deepEqual(notes, ['c-fits'], 'the waiting jobs were told once, not at every read');
    waitingCount = 2; // another job started waiting for the model
    await clock.advance(1000);
    assert.deepEqual(notes, ['c-fits', 'c-fits'], 'told again once more jobs wait');

    await directory.announce(heartbeat('c-fits', { downloading: [{ modelId: 'i2v-A14B', bytesDone: 1, bytesTotal: 10, etaSeconds: 9 }] }), TTL);
    control.end('c-fits', 'i2v-A14B'); // the request was taken: BullMQ's job ran, the beat shows the download
    await clock.advance(10_000);
    assert.equal(placed.value, 'pending', 'a download under way is followed, not counted as failed');
    await directory.announce(heartbeat('c-fits', { installed: ['ti2v-5B', 'i2v-A14B'] }), TTL);
    await clock.advance(1000);
    assert.equal(placed.value, 'resolved');
    assert.equal(control.requests.length, 1);
    assert.deepEqual(notes, ['c-fits', 'c-fits'], 'nothing new to tell while the download ran');
  });

  test('a model some live worker already has needs no download', async () => {
    await directory.announce(heartbeat('a', { installed: ['i2v-A14B'] }), TTL);
    const placed = outcome(downloads.place('i2v-A14B', shutdown.signal));
    await clock.flush();
    assert.equal(placed.value, 'resolved');
    assert.deepEqual(control.requests, []);
  });

  test('when the chosen worker leaves the directory, the download is placed on another, saying why', async () => {
    await directory.announce(heartbeat('a'), TTL);
    const placed = outcome(downloads.place('t2v-A14B', shutdown.signal));
    await clock.flush();
    assert.deepEqual(control.requests.map((r) => r.workerId), ['a']);
    await directory.withdraw('a'); // died: its TTL lapsed, or it stopped
    await directory.announce(heartbeat('b'), TTL);
    await clock.advance(1000);
    assert.deepEqual(control.requests.map((r) => r.workerId), ['a', 'b']);
    assert.match(events.at(-1)?.message ?? '', /downloads on b \(a left\)/);
    assert.deepEqual(notes, ['a', 'b'], 'the waiting jobs were told of the new placement');
    await directory.announce(heartbeat('b', { installed: ['t2v-A14B'] }), TTL);
    await clock.advance(1000);
    assert.equal(placed.value, 'resolved');
  });

  test('with no worker that can take it, says why once and places it when one joins', async () => {
    await directory.announce(heartbeat('tiny', { vramTotalGb: 4 }), TTL);
    const placed = outcome(downloads.place('t2v-A14B', shutdown.signal));
    await clock.advance(5000);
    assert.deepEqual(events.map((e) => e.workerId), [null]);
    assert.match(events[0]?.message ?? '', /waiting for a worker that can download it: .*tiny has 4 GB of GPU memory, t2v-A14B needs 8 GB/);
    await directory.announce(heartbeat('tiny', { vramTotalGb: 4 }), TTL);
    await directory.announce(heartbeat('big'), TTL);
    await clock.advance(1000);
    assert.deepEqual(control.requests, [{ workerId: 'big', modelId: 't2v-A14B' }]);
    assert.deepEqual(events.map((e) => e.workerId), [null, 'big']);
    assert.equal(placed.value, 'pending');
  });

  test("a request that ended without the model on a live worker fails after the settle time with the worker's name", async () => {
    await directory.announce(heartbeat('a'), 60_000);
    const placed = outcome(downloads.place('t2v-A14B', shutdown.signal));
    await clock.flush();
    control.end('a', 't2v-A14B'); // the worker's download failed: the job left its channel, nothing installed
    await clock.advance(4000);
    assert.equal(placed.value, 'pending', 'a beat may lag the end of a download that succeeded');
    await clock.advance(2000);
    const failure: unknown = placed.value;
    assert.ok(isWorkerDownloadError(failure), String(failure));
    assert.match(failure.message, /a could not download t2v-A14B/);
  });

  test('the signal stops following it', async () => {
    await directory.announce(heartbeat('a'), TTL);
    const placed = outcome(downloads.place('t2v-A14B', shutdown.signal));
    await clock.flush();
    shutdown.abort(new Error('engine closed'));
    await clock.flush();
    assert.ok(placed.value instanceof Error);
    assert.equal(clock.pendingTimers, 0);
  });
});
