import type { Catalog } from '../core/catalog.js';
import { estimateVramGb } from '../core/estimates.js';
import type { PlannerConfig } from '../core/planning.js';
import { findReduction } from '../core/reduction.js';
import { withDefaults } from '../core/requirements.js';
import type { GenerationReduction, RecoveryContext } from './recovery/fallback-recovery-system.js';

/**
 * reduce_generation_params on the planner's ladder, from the failed job's settings: with no known budget, the
 * reference reduction. Null when the model is unknown, no settings were given, or nothing lighter exists.
 */
export function plannerReduction(catalog: Catalog, config: PlannerConfig): (context: RecoveryContext) => GenerationReduction | null {
  return (context) => {
    const model = context.modelId ? catalog.byId.get(context.modelId) : undefined;
    if (!model || !context.generation) return null;
    const requirements = { ...withDefaults({ modelType: model.id }), ...context.generation };
    const reduction = findReduction(model, requirements, {}, config.reduction, config.estimation);
    return reduction && estimateVramGb(model, reduction.settings, config.estimation) < estimateVramGb(model, context.generation, config.estimation)
      ? { settings: reduction.settings, adjustments: reduction.adjustments }
      : null;
  };
}
