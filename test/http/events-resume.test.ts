/**
 * The events WebSocket in one process: each event carries an eventId; a client that reconnects with ?since= gets
 * what it missed, each event once and in order, then live ones; an id the server cannot resume from is an
 * events.gap message first; a malformed since is a 400 naming the field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compareEventIds } from '../../src/core/event-ids.js';
import { openEvents, refusedEvents, startTestService, waitForFinal, type EventStream, type TestService } from './support.js';

/** A message of the events socket as received: an event with its id, or a gap. */
type Message = { type: string; eventId?: string; jobId?: string; reason?: string };

const messages = (stream: EventStream): Message[] => stream.events as unknown as Message[];

describe('events WebSocket resume (one process)', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService();
  });
  after(() => service.close());

  const submit = async (prompt: string): Promise<string> => {
    const response = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt } });
    assert.equal(response.status, 202);
    return ((await response.json()) as { id: string }).id;
  };

  test('a client reconnecting with since gets the events it missed, once each and in order, then live ones', async () => {
    const first = await openEvents(service.url);
    const one = await submit('one');
    await first.waitFor((e) => e.type === 'job.succeeded' && e.jobId === one);
    const seen = messages(first);
    assert.ok(seen.every((m) => typeof m.eventId === 'string'), 'every event carries its eventId');
    const ids = seen.map((m) => m.eventId as string);
    for (let i = 1; i < ids.length; i++) assert.ok(compareEventIds(ids[i - 1] as string, ids[i] as string) < 0, 'ids increase');
    first.close();
    const last = ids.at(-1) as string;

    const two = await submit('two, while the client is away');
    await waitForFinal(service, two);
    const resumed = await openEvents(service.url, `?since=${encodeURIComponent(last)}`);
    await resumed.waitFor((e) => e.type === 'job.succeeded' && e.jobId === two);
    const three = await submit('three, live');
    await resumed.waitFor((e) => e.type === 'job.succeeded' && e.jobId === three);
    resumed.close();

    const got = messages(resumed);
    const gotIds = got.map((m) => m.eventId as string);
    assert.ok(compareEventIds(gotIds[0] as string, last) > 0, 'nothing at or before since');
    assert.equal(new Set(gotIds).size, gotIds.length, 'no event twice');
    for (let i = 1; i < gotIds.length; i++) assert.ok(compareEventIds(gotIds[i - 1] as string, gotIds[i] as string) < 0, 'in order');
    const ofTwo = got.filter((m) => m.jobId === two).map((m) => m.type);
    assert.equal(ofTwo[0], 'job.accepted', 'the missed job from its first event');
    assert.ok(ofTwo.includes('job.started') && ofTwo.at(-1) === 'job.succeeded');
    assert.ok(got.some((m) => m.jobId === three && m.type === 'job.accepted'), 'then live events');
    assert.ok(!got.some((m) => m.jobId === one && m.type === 'job.accepted'), 'not what it had seen');
  });

  test('since from another run of the server is an events.gap message first, then live events', async () => {
    const stream = await openEvents(service.url, '?since=1-1');
    const id = await submit('after a gap');
    await stream.waitFor((e) => e.type === 'job.accepted' && e.jobId === id);
    stream.close();
    const [gap] = messages(stream);
    assert.equal(gap?.type, 'events.gap');
    assert.match(gap?.reason ?? '', /another run/);
    assert.equal((gap as unknown as { since: string }).since, '1-1');
  });

  test('a malformed since is refused with 400 naming since', async () => {
    for (const bad of ['abc', '12', '1-2-3', '-1-2']) {
      const { status, body } = await refusedEvents(service.url, `?since=${bad}`);
      assert.equal(status, 400, bad);
      const details = (body as { error: { details: Array<{ field: string; problem: string }> } }).error.details;
      assert.deepEqual(details.map((d) => d.field), ['since'], bad);
      assert.match(details[0]?.problem ?? '', /event id: <ms>-<seq>/);
    }
  });
});
