import type { Redis } from 'ioredis';

/**
 * A client for BullMQ to duplicate into the blocking connection it reads on (QueueEvents, Worker): a copy of
 * `connection` that waits through outages, as BullMQ requires (`maxRetriesPerRequest: null`), and never connects
 * itself. The caller disconnects it after closing what uses it.
 */
export function blockingTemplate(connection: Redis): Redis {
  return connection.duplicate({ lazyConnect: true, maxRetriesPerRequest: null, enableOfflineQueue: true });
}
