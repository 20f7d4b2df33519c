import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisWorkSignals } from '../../src/adapters/redis/redis-work-signals.js';
import { Arrivals, deleteKeys, openRedis, uniquePrefix } from './redis-fixtures.js';

describe('RedisWorkSignals', { timeout: 20_000 }, () => {
  let prefix: string;
  let conns: Redis[];
  let signals: RedisWorkSignals[];

  beforeEach(async () => {
    prefix = uniquePrefix();
    conns = [await openRedis('gateway'), await openRedis('worker'), await openRedis('worker')];
    signals = await Promise.all(conns.map((connection) => RedisWorkSignals.open({ connection, prefix })));
  });

  afterEach(async () => {
    await Promise.all(signals.map((s) => s.close()));
    await deleteKeys(conns[0]!, prefix);
    await Promise.all(conns.map((c) => c.quit()));
  });

  test('every worker hears which model has work, in order; a stopped listener hears nothing more', async () => {
    const [gateway, workerA, workerB] = signals as [RedisWorkSignals, RedisWorkSignals, RedisWorkSignals];
    const heardA = new Arrivals<string>();
    const heardB = new Arrivals<string>();
    workerA.onWork(heardA.push);
    const stopB = workerB.onWork(heardB.push);
    await gateway.signal('ti2v-5B');
    await gateway.signal('t2v-A14B');
    await Promise.all([heardA.atLeast(2), heardB.atLeast(2)]);
    assert.deepEqual(heardA.values, ['ti2v-5B', 't2v-A14B']);
    assert.deepEqual(heardB.values, ['ti2v-5B', 't2v-A14B']);
    stopB();
    await gateway.signal('i2v-A14B');
    await heardA.atLeast(3);
    assert.deepEqual(heardB.values, ['ti2v-5B', 't2v-A14B']);
  });

  test('another prefix is another cluster: its signals are not heard', async () => {
    const other = await RedisWorkSignals.open({ connection: conns[0]!, prefix: uniquePrefix() });
    const heard = new Arrivals<string>();
    signals[1]!.onWork(heard.push);
    await other.signal('ti2v-5B');
    await signals[0]!.signal('t2v-A14B');
    await heard.atLeast(1);
    assert.deepEqual(heard.values, ['t2v-A14B']);
    await other.close();
  });
});
