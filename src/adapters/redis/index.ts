/** The Redis job store for gateways and workers on many machines, and what composition needs to open it. */
export { RedisJobStore, type RedisJobStoreOptions, type RedisJobStoreOpenOptions, type RedisStoreLogger } from './redis-job-store.js';
export { isRedisStoreUrl, parseRedisUrl, redactRedisUrl, connectRedis, type RedisAddress, type RedisRole } from './redis-connection.js';
export { isRedisNotDurableError, RedisNotDurableError, readRedisDurability, type RedisDurability } from './redis-durability.js';
export { isRedisUnavailableError, RedisUnavailableError } from './redis-unavailable.js';
export { DEFAULT_REDIS_PREFIX } from './redis-keys.js';
export { RedisTimeClock, readRedisTime, type RedisTimeClockOptions } from './redis-time-clock.js';
