/** The composition root: builds the engine from a config, on embedded defaults. */
export { createUnderstudy, type UnderstudyDependencies } from './create-understudy.js';
export { UnderstudyConfigSchema, type UnderstudyConfig, type UnderstudyConfigInput } from './config-schema.js';
export { redactRedisUrl as redactStoreUrl } from '../adapters/redis/redis-connection.js';
