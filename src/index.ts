/** Understudy's public library API. */
export * from './core/vocabulary.js';
export * from './core/validation.js';
export * from './core/clock.js';
export * from './core/catalog.js';
export * from './core/availability.js';
export * from './core/requirements.js';
export * from './core/estimates.js';
export * from './core/learner.js';
export * from './core/scoring.js';
export * from './core/reduction.js';
export * from './core/planning.js';
export * from './core/queue-ordering.js';
export * from './runtime/clocks.js';
export * from './runtime/request-queue.js';
export * from './runtime/in-memory-request-queue.js';
export * from './runtime/intelligent-fallback-manager.js';
