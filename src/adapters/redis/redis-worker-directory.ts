/**
 * The worker directory on Redis: each worker's heartbeat under `<prefix>:worker:<id>` with a PX TTL, so Redis itself
 * drops a worker that stops beating, and a `<prefix>:workers` ZSET of ids scored by expiry (Redis `TIME`, not any
 * machine's clock), so listing needs no SCAN. Entries whose key expired are pruned from the ZSET on each announce.
 */
import type { Redis } from 'ioredis';
import type { WorkerHeartbeat } from '../../runtime/cluster/worker-heartbeat.js';
import type { WorkerDirectory } from '../../runtime/cluster/worker-directory.js';
import { keyPrefix } from './redis-key-prefix.js';
import { WorkerHeartbeatSchema } from '../../runtime/worker-heartbeat-schema.js';

/** KEYS: heartbeat key, ZSET. ARGV: id, JSON, TTL ms. Stores the beat and prunes entries that expired. */
const ANNOUNCE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return now`;

/** Options of {@link RedisWorkerDirectory}. */
export interface RedisWorkerDirectoryOptions {
  /** A client the caller owns (and quits); any role. */
  connection: Redis;
  /** Key prefix (default `us`). */
  prefix?: string;
  /** Called with the worker id of an entry that does not read as a heartbeat; it is left out of {@link live}. */
  onInvalid?: (workerId: string, error: unknown) => void;
}

/** {@link WorkerDirectory} on Redis TTL keys and an expiry ZSET. */
export class RedisWorkerDirectory implements WorkerDirectory {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(private readonly options: RedisWorkerDirectoryOptions) {
    this.redis = options.connection;
    this.prefix = keyPrefix(options.prefix);
  }

  async announce(heartbeat: WorkerHeartbeat, ttlMs: number): Promise<void> {
    if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new RangeError(`ttlMs must be a whole number of milliseconds ≥ 1, got ${ttlMs}`);
    await this.redis.eval(ANNOUNCE, 2, this.workerKey(heartbeat.workerId), this.setKey, heartbeat.workerId, JSON.stringify(heartbeat), ttlMs);
  }

  async withdraw(workerId: string): Promise<void> {
    await this.redis.multi().del(this.workerKey(workerId)).zrem(this.setKey, workerId).exec();
  }

  async live(): Promise<WorkerHeartbeat[]> {
    const ids = await this.redis.zrange(this.setKey, 0, -1);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.workerKey(id)));
    const live: WorkerHeartbeat[] = [];
    values.forEach((value, i) => {
      if (value === null) return; // the TTL lapsed: Redis dropped the worker
      try {
        live.push(WorkerHeartbeatSchema.parse(JSON.parse(value)));
      } catch (error) {
        this.options.onInvalid?.(ids[i] as string, error);
      }
    });
    return live;
  }

  private get setKey(): string {
    return `${this.prefix}:workers`;
  }

  private workerKey(workerId: string): string {
    return `${this.prefix}:worker:${workerId}`;
  }
}
