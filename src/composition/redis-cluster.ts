/**
 * The cluster on one Redis: the job store, the worker directory, the event relay, cancel and work signals and the
 * workers' control channels, over connections opened for the process's role, each Redis-backed port answering
 * StoreUnavailableError while Redis is down. Gateways and workers both open it; what they do with it is theirs
 * (create-gateway.ts, create-worker.ts).
 */
import type { Redis } from 'ioredis';
import { RedisCancelSignals } from '../adapters/redis/redis-cancel-signals.js';
import { connectRedis, type RedisRole } from '../adapters/redis/redis-connection.js';
import { RedisEventRelay } from '../adapters/redis/redis-event-relay.js';
import { mapUnavailable } from '../adapters/redis/redis-connection-errors.js';
import { RedisWorkSignals } from '../adapters/redis/redis-work-signals.js';
import { RedisWorkerControl } from '../adapters/redis/redis-worker-control.js';
import { RedisWorkerDirectory } from '../adapters/redis/redis-worker-directory.js';
import type { CancelSignals } from '../runtime/cluster/cancel-signals.js';
import type { EventRelay } from '../runtime/cluster/event-relay.js';
import type { WorkSignals } from '../runtime/cluster/work-signals.js';
import type { WorkerControl } from '../runtime/cluster/worker-control.js';
import type { WorkerDirectory } from '../runtime/cluster/worker-directory.js';
import type { EngineBasics } from './build-engine.js';
import { checkRedis, openRedisJobStore, type OpenedJobStore } from './open-job-store.js';

/** The cluster's ports on Redis, and how to let go of them. */
export interface RedisCluster {
  opened: OpenedJobStore;
  directory: WorkerDirectory;
  relay: EventRelay;
  cancels: CancelSignals;
  /** "A job of model X was queued": wakes idle workers at once. */
  work: WorkSignals;
  /** Each worker's control channel: gateways ask a worker to download a model there. */
  control: WorkerControl;
  /** Closes the control channels, the relay, the signal subscriptions and every connection (after the engine has closed its store). */
  stop(): Promise<void>;
}

/**
 * Checks Redis (reachable, durable unless allowed otherwise), then opens the store and the cluster's ports for
 * `role`: a worker's connections wait through outages, a gateway's fail fast so that the API answers 503.
 */
export async function openRedisCluster(basics: EngineBasics, role: RedisRole, warn: (message: string) => void): Promise<RedisCluster> {
  const { config, workerId } = basics;
  const checked = await checkRedis(config);
  const where = checked.address.redacted;
  const prefix = config.redis.prefix;
  const connections: Redis[] = [];
  const connect = (name: string, as: RedisRole = role): Redis => {
    const connection = connectRedis(checked.address, { role: as, name: `understudy-${name}-${workerId}` });
    connection.on('error', () => undefined); // ioredis reconnects; failures surface as rejected commands
    connections.push(connection);
    return connection;
  };
  const opened = await openRedisJobStore(basics, checked, role, { warn, error: warn }).catch(async (error: unknown) => {
    await checked.close();
    throw error;
  });
  const directory = mapUnavailable(new RedisWorkerDirectory({ connection: connect('directory'), prefix }), where);
  // Events and cancels wait through an outage on either role: they are delivered late rather than lost.
  const relay = new RedisEventRelay({ connection: connect('relay', 'worker'), origin: workerId, prefix });
  const cancels = await RedisCancelSignals.open({ connection: connect('cancel', 'worker'), prefix });
  const work = await RedisWorkSignals.open({ connection: connect('work', 'worker'), prefix });
  // A served channel waits through an outage (a worker's download request is kept in Redis, not lost).
  const control = new RedisWorkerControl({ connection: connect('control', 'worker'), prefix, onError: (error) => warn(`worker control: ${String(error)}`) });
  return {
    opened,
    directory,
    relay,
    cancels: mapUnavailable(cancels, where),
    work: mapUnavailable(work, where),
    control: mapUnavailable(control, where),
    stop: async () => {
      await control.close();
      await relay.close();
      await cancels.close();
      await work.close();
      await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
      await checked.close();
    },
  };
}
