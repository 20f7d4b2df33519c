/** The composition root: builds the engine from a config, on embedded defaults. */
export { createUnderstudy, type UnderstudyDependencies } from './create-understudy.js';
export { createWorker, type UnderstudyWorker } from './create-worker.js';
export { isRedisNotDurableError as isStoreRefusedError } from '../adapters/redis/redis-durability.js';
export { isRedisUnavailableError as isStoreUnreachableError } from '../adapters/redis/redis-unavailable.js';
export { UnderstudyConfigSchema, type UnderstudyConfig, type UnderstudyConfigInput } from './config-schema.js';
export { redactRedisUrl as redactStoreUrl } from '../adapters/redis/redis-connection.js';
