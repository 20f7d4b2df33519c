import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventEmitter } from 'cockatiel';
import type { EventRelay, RelayedEvent } from '../../src/runtime/cluster/event-relay.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { relayEngineEvents } from '../../src/runtime/event-relaying.js';

/** The relay port as a recorder: what this process published. */
function recordingRelay(origin: string): EventRelay & { published: UnderstudyEvent[] } {
  const published: UnderstudyEvent[] = [];
  return {
    origin,
    published,
    publish: (event) => {
      published.push(event);
      return Promise.resolve();
    },
    subscribe: () => {
      throw new Error('not used');
    },
    readAfter: () => Promise.reject(new Error('not used')),
  };
}

const loaded: UnderstudyEvent = { type: 'model.loaded', at: 1, modelId: 'ti2v-5B', backendId: 'gpu-0', detail: 'loaded in 2 s' };
const started: UnderstudyEvent = { type: 'job.started', at: 2, jobId: 'j1', status: 'running', model: 'ti2v-5B', message: 'started' };

test("a worker's events go out with its backends named across the cluster; other processes' come in once, not sent back", async () => {
  const relay = recordingRelay('worker-a');
  const events = new EventEmitter<UnderstudyEvent>();
  const seen: UnderstudyEvent[] = [];
  events.addListener((e) => seen.push(e));
  const incoming = new EventEmitter<RelayedEvent>();
  const relaying = relayEngineEvents({ relay, events, incoming: incoming.addListener });

  events.emit(loaded);
  events.emit(started);
  assert.deepEqual(relay.published, [{ ...loaded, backendId: 'worker-a/gpu-0' }, started]);
  assert.deepEqual(seen, [loaded, started], 'this process keeps its own ids');

  const fromB: UnderstudyEvent = { ...loaded, backendId: 'worker-b/gpu-0' };
  incoming.emit({ id: '5-0', event: fromB, origin: 'worker-b' });
  incoming.emit({ id: '6-0', event: { ...loaded, backendId: 'worker-a/gpu-0' }, origin: 'worker-a' });
  assert.deepEqual(seen.slice(2), [fromB], "another process's event is shown here; this one's own is not shown twice");
  assert.equal(relay.published.length, 2, 'nothing relayed in is published again');
  await relaying.stop();
  events.emit(started);
  assert.equal(relay.published.length, 2, 'stopped');
});
