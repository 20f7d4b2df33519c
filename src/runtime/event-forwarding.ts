import type { Clock } from '../core/clock.js';
import type { EstimateLearner } from '../core/learner.js';
import type { Backend } from './backend.js';
import type { UnderstudyEvent } from './engine-events.js';
import type { FallbackRecoverySystem } from './recovery/fallback-recovery-system.js';

/**
 * Forwards the recovery system's attempts, health and status, and the backends' model loads, as engine events; the
 * learner learns each backend's load time per model.
 */
export function forwardEngineEvents(
  recovery: FallbackRecoverySystem,
  backends: readonly Backend[],
  learner: EstimateLearner,
  clock: Clock,
  emit: (event: UnderstudyEvent) => void,
): void {
  recovery.onRecoveryAttempt((attempt) => emit({ type: 'recovery_attempt', at: clock.now(), attempt }));
  recovery.onHealthStatus((health) => emit({ type: 'health_status', at: clock.now(), health }));
  recovery.onSystemStatus((status) => emit({ type: 'system_status', at: clock.now(), status }));
  for (const backend of backends) {
    backend.onEvent?.((e) => {
      if (e.type === 'model_loaded') learner.recordLoad(e.backendId, e.modelId, e.loadMs / 1000);
      if (e.type === 'model_loaded') emit({ type: 'model.loaded', at: e.at, modelId: e.modelId, backendId: e.backendId, detail: `loaded in ${e.loadMs} ms` });
      if (e.type === 'model_unloaded') emit({ type: 'model.unloaded', at: e.at, modelId: e.modelId, backendId: e.backendId, detail: e.reason });
    });
  }
}
