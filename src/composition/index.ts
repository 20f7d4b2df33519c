/** The composition root: builds the engine from a config, on embedded defaults. */
export { createUnderstudy, type UnderstudyDependencies } from './create-understudy.js';
export { UnderstudyConfigSchema, type UnderstudyConfig, type UnderstudyConfigInput } from './config-schema.js';
