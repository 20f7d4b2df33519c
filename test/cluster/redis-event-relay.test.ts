import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisEventRelay } from '../../src/adapters/redis/redis-event-relay.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { Arrivals, deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';

const progress = (jobId: string, n: number): UnderstudyEvent => ({ type: 'job.progress', at: 1_000 + n, jobId, progress: n / 10, message: `step ${n}` });

interface Received {
  event: UnderstudyEvent;
  id: string;
  origin: string;
}

describe('RedisEventRelay', { timeout: 20_000 }, () => {
  let prefix: string;
  let workerConn: Redis;
  let gatewayConn: Redis;
  /** Another gateway process's client. */
  let otherGatewayConn: Redis;
  const relays: RedisEventRelay[] = [];

  beforeEach(async () => {
    prefix = uniquePrefix();
    workerConn = await openRedis('worker');
    gatewayConn = await openRedis('gateway');
    otherGatewayConn = await openRedis('gateway');
  });

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.close()));
    await deleteKeys(gatewayConn, prefix);
    await Promise.all([workerConn.quit(), gatewayConn.quit(), otherGatewayConn.quit()]);
  });

  const relay = (connection: Redis, origin: string, maxLen?: number): RedisEventRelay => {
    const r = new RedisEventRelay({ connection, origin, prefix, ...(maxLen ? { maxLen } : {}) });
    relays.push(r);
    return r;
  };

  const listen = (r: RedisEventRelay, options: Parameters<RedisEventRelay['subscribe']>[1] = {}) => {
    const got = new Arrivals<Received>();
    const subscription = r.subscribe((event, id, origin) => got.push({ event, id, origin }), options);
    return { got, subscription };
  };

  test("a worker's events reach two gateways, in order, marked with the worker as origin", async () => {
    const worker = relay(workerConn, 'worker-a');
    const gatewayOne = listen(relay(gatewayConn, 'gateway-1'));
    const gatewayTwo = listen(relay(otherGatewayConn, 'gateway-2'));
    await Promise.all([gatewayOne.subscription.ready, gatewayTwo.subscription.ready]);
    for (let n = 1; n <= 3; n++) await worker.publish(progress('job-1', n));
    await Promise.all([gatewayOne.got.atLeast(3), gatewayTwo.got.atLeast(3)]);
    for (const { got } of [gatewayOne, gatewayTwo]) {
      assert.deepEqual(got.values.map((r) => r.event), [1, 2, 3].map((n) => progress('job-1', n)));
      assert.deepEqual(new Set(got.values.map((r) => r.origin)), new Set(['worker-a']));
    }
    assert.deepEqual(gatewayOne.got.values.map((r) => r.id), gatewayTwo.got.values.map((r) => r.id), 'one order for everyone');
  });

  test('a gateway that restarts resumes after the last id it saw and misses nothing', async () => {
    const worker = relay(workerConn, 'worker-a');
    const gateway = relay(gatewayConn, 'gateway-1');
    const before = listen(gateway);
    await before.subscription.ready;
    await worker.publish(progress('job-1', 1));
    await worker.publish(progress('job-1', 2));
    await before.got.atLeast(2);
    await before.subscription.close();
    const lastSeen = before.got.values[1]?.id as string;

    await worker.publish(progress('job-1', 3)); // while the gateway is down
    let gaps = 0;
    const after = listen(gateway, { fromId: lastSeen, onGap: () => gaps++ });
    await after.subscription.ready;
    await worker.publish(progress('job-1', 4));
    await after.got.atLeast(2);
    assert.deepEqual(after.got.values.map((r) => r.event), [progress('job-1', 3), progress('job-1', 4)]);
    assert.equal(gaps, 0);
  });

  test('resuming from an id the stream no longer keeps reports a gap, so the gateway reloads state', async () => {
    const worker = relay(workerConn, 'worker-a', 10);
    const first = listen(relay(gatewayConn, 'gateway-1'));
    await first.subscription.ready;
    await worker.publish(progress('job-1', 0));
    await first.got.atLeast(1);
    const oldest = first.got.values[0]?.id as string;
    await first.subscription.close();
    // MAXLEN ~ trims whole stream nodes (100 entries each): publish well past one.
    for (let n = 1; n <= 250; n++) await worker.publish(progress('job-2', n));
    assert.ok((await gatewayConn.xlen(worker.streamKey)) < 250, 'the stream was trimmed');

    let gaps = 0;
    const resumed = listen(relay(gatewayConn, 'gateway-1'), { fromId: oldest, onGap: () => gaps++ });
    await resumed.subscription.ready;
    assert.equal(gaps, 1);
  });

  test('a publisher hears its own events marked with its origin, so it can skip them', async () => {
    const gateway = relay(gatewayConn, 'gateway-1');
    const own = listen(gateway);
    await own.subscription.ready;
    await gateway.publish(progress('job-9', 1));
    await own.got.atLeast(1);
    assert.equal(own.got.values[0]?.origin, 'gateway-1');
  });
});

