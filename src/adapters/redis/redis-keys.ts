/**
 * Where the Redis job store keeps things. Every key starts with the store's prefix (default `us`), so that several
 * deployments, or tests, share one Redis without meeting. BullMQ's queues live under `<prefix>:bull`.
 *
 * Our records, beside the queues:
 * - `<p>:job:<id>` a hash, the job's fields (see redis-job-record.ts); `<p>:job:<id>:tl` its timeline, a list of JSON;
 * - `<p>:seq` the acceptance counter; `<p>:all` and `<p>:status:<state>` ZSETs of ids scored by sequence (listings,
 *   cursors and counts);
 * - `<p>:lane:<rank>` queued jobs of one priority lane, and `<p>:queued:<model>:<rank>` the same per model: ZSETs
 *   scored by acceptance time whose members are `<padded sequence>:<id>`, so that ties keep acceptance order;
 * - `<p>:waiting:<model>:<rank>` jobs waiting for a model, the same way; `<p>:models` every model a job was queued
 *   for or waited for (the queues a worker watches);
 * - `<p>:waiting-since` waiting jobs by acceptance time, `<p>:deadlines` by deadline, `<p>:leases` running jobs by
 *   lease expiry, `<p>:finished` finished jobs by last update (purge).
 * The Lua scripts (redis-scripts.ts) derive the index keys from the prefix the same way, as BullMQ's scripts do.
 */

/** The default key prefix. */
export const DEFAULT_REDIS_PREFIX = 'us';

/** The key names of one store. */
export class RedisKeys {
  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_.{}-]+(:[A-Za-z0-9_.{}-]+)*$/.test(prefix)) {
      throw new RangeError(`prefix must be letters, digits, "_", ".", "-", "{", "}" in ":"-separated parts, got ${JSON.stringify(prefix)}`);
    }
  }

  /** The job's hash. */
  job(id: string): string {
    return `${this.prefix}:job:${id}`;
  }

  /** The job's timeline list. */
  timeline(id: string): string {
    return `${this.prefix}:job:${id}:tl`;
  }

  /** BullMQ's prefix for our queues. */
  get bullPrefix(): string {
    return `${this.prefix}:bull`;
  }

  /** Every key of this store, for SCAN (tests and tools). */
  get pattern(): string {
    return `${this.prefix}:*`;
  }
}

/**
 * The BullMQ queue of a model: `model.<id>` (BullMQ refuses `:` in queue names). The preview model's jobs have their
 * own queue the same way (`model.preview`).
 */
export function modelQueueName(modelId: string): string {
  return `model.${encodeURIComponent(modelId)}`;
}

/**
 * The BullMQ job id of one of our jobs: the id itself when BullMQ accepts it (our UUIDs), else escaped, one to one:
 * BullMQ refuses ids with `:` and ids that read as integers.
 */
export function bullJobId(id: string): string {
  const encoded = encodeURIComponent(id);
  return encoded.startsWith('~') || String(Number.parseInt(encoded, 10)) === encoded ? `~${encoded}` : encoded;
}
