/** The API's shapes, from the server's own schemas (type-only: nothing of the server reaches the bundle). */
export type { Accepted, ErrorBody, ErrorDetail, JobPageView, JobView, ModelView, PlanView } from '../src/interfaces/http/schemas.js';
export type { ActivityView, BackendsView, PositionsView } from '../src/interfaces/dashboard/status-schemas.js';
export type { WorkersView } from '../src/interfaces/http/routes-system.js';
export type { UnderstudyEvent } from '../src/runtime/engine-events.js';

/** A generation's state. */
export type JobState = 'queued' | 'waiting_for_model' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

/** Every state, in the order the filters show them. */
export const JOB_STATES: readonly JobState[] = ['queued', 'waiting_for_model', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];

/** States a generation never leaves. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'expired']);
export type { AlternativesView, FallbackStrategyView, HealthView } from '../src/interfaces/http/record-schemas.js';
export type { SystemHealthStatus } from '../src/core/health-assessment.js';
export type { RecoveryStatistics } from '../src/runtime/recovery/recovery-records.js';
