import type { PipelineProblems } from '../../core/health-assessment.js';
import type { FailureType } from '../../core/vocabulary.js';
import type { RecoveryResult, RecoveryScope } from './recovery-records.js';

/** The failure types that say a function is broken, and the function each one is about. */
const FUNCTION_OF: Partial<Record<FailureType, keyof PipelineProblems>> = {
  model_loading_failure: 'modelLoadingProblem',
  generation_pipeline_error: 'generationPipelineProblem',
};

/**
 * Whether model loading and the generation pipeline work, as recovery last saw them: a model loading failure or a
 * pipeline error that no real repair fixed (every action failed, recovery was cooling down, or only a preview stood
 * in) leaves its function broken for that backend until a repair works there or work succeeds there. Read by the
 * health check as `modelLoadingFunctional` and `generationPipelineFunctional`.
 */
export class PipelineFunctions {
  private readonly broken: Record<keyof PipelineProblems, Map<string, string>> = {
    modelLoadingProblem: new Map(),
    generationPipelineProblem: new Map(),
  };

  /** Records how a recovery of `failureType` in `scope` ended. */
  noteRecovery(failureType: FailureType, scope: RecoveryScope, result: RecoveryResult): void {
    const fn = FUNCTION_OF[failureType];
    if (!fn) return;
    const key = scope.backendId ?? '';
    if (result.recovered && result.action !== 'fallback_to_mock') this.broken[fn].delete(key);
    else this.broken[fn].set(key, `${failureType}${scope.backendId ? ` on ${scope.backendId}` : ''}${scope.modelId ? ` (${scope.modelId})` : ''} not repaired: ${result.message}`);
  }

  /** Work succeeded on `backendId`: what was broken there (or on no backend in particular) works again. */
  noteSuccess(backendId: string): void {
    for (const map of Object.values(this.broken)) {
      map.delete(backendId);
      map.delete('');
    }
  }

  /** Forgets everything (recovery state reset). */
  reset(): void {
    for (const map of Object.values(this.broken)) map.clear();
  }

  /** What is broken now, in words; a function that works is absent. */
  problems(): PipelineProblems {
    const out: { -readonly [K in keyof PipelineProblems]: string } = {};
    for (const [fn, map] of Object.entries(this.broken) as Array<[keyof PipelineProblems, Map<string, string>]>) {
      if (map.size > 0) out[fn] = [...map.values()].join('; ');
    }
    return out;
  }
}
