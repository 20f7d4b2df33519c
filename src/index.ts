/**
 * Understudy's public library API: the two seed components, the engine and its composition root, configs, records,
 * errors with their `isXxxError` guards, and the ports a custom backend or job store implements. Adapter internals
 * (SQL, lock spins, ComfyUI and download plumbing) are not part of it.
 */

// Pure decisions: vocabulary, validation, catalog, planning, estimates, queue order, failures, recovery, health.
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
export * from './core/failure-classification.js';
export * from './core/recovery-policy.js';
export * from './core/health-assessment.js';

// The seed's two components and their ports.
export * from './runtime/request-queue.js';
export * from './runtime/in-memory-request-queue.js';
export * from './runtime/intelligent-fallback-manager.js';
export * from './runtime/recovery/recovery-target.js';
export { HealthMonitor, type HealthMonitorOptions, type GpuDevice, type HealthProbe, type HealthReading, type ReportedVram, type VramReporter } from './runtime/recovery/health-monitor.js';
export * from './runtime/recovery/fallback-recovery-system.js';

// The engine, its records and events, and the ports of custom backends and job stores.
export * from './runtime/backend.js';
export * from './runtime/job.js';
export * from './runtime/job-store.js';
export * from './runtime/job-transitions.js';
export * from './runtime/job-request-queue.js';
export * from './runtime/model-file-store.js';
export * from './runtime/generation-input.js';
export * from './runtime/engine-events.js';
export * from './runtime/queue-status.js';
export type { JobsAheadSource } from './runtime/job-queue.js';
export * from './runtime/understudy.js';
export * from './composition/index.js';

// Clocks: the real one, and the manual one of tests and simulations.
export { SystemClock } from './adapters/system-clock.js';
export { ManualClock } from './runtime/clocks.js';

// The embedded adapters a library user may build on.
export { SqliteJobStore, type SqliteJobStoreOptions, type FileSync } from './adapters/sqlite/index.js';
export { SchemaTooNewError, isSchemaTooNewError } from './adapters/sqlite/migrations.js';
export { SimulatedBackend, SimulatedBackendOptionsSchema, type SimulatedBackendOptions, type SimulatedBackendOptionsInput, type SimulatedBackendDependencies, type InjectedFaultEvent } from './adapters/simulated-backend.js';
export { FaultProbabilitiesSchema, FAULT_KINDS, seededRandom, type FaultKind, type FaultProbabilities, type FaultProbabilitiesInput, type ScriptedFault, type ScriptedFaultInput } from './adapters/simulated-faults.js';
export { PreviewBackend, PreviewBackendOptionsSchema, PREVIEW_LABEL, type PreviewBackendOptions, type PreviewBackendOptionsInput } from './adapters/preview-backend.js';
export { SystemProbe, type SystemProbeOptions } from './adapters/system-probe.js';
