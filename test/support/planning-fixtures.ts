import type { ModelStatus } from '../../src/core/availability.js';
import { createCatalog } from '../../src/core/catalog.js';
import { PlannerConfigSchema, planFallback, type PlanningInput } from '../../src/core/planning.js';
import { withDefaults, type GenerationRequirementsInput } from '../../src/core/requirements.js';
import type { ModelAvailability } from '../../src/core/vocabulary.js';

/** The default catalog and planner config, shared by the core tests. */
export const catalog = createCatalog();
export const config = PlannerConfigSchema.parse({});

/** An availability snapshot from `{ model: status }`. */
export function availability(statuses: Record<string, ModelAvailability | ModelStatus>): Map<string, ModelStatus> {
  return new Map(
    Object.entries(statuses).map(([id, s]) => [id, typeof s === 'string' ? { modelId: id, status: s } : { ...s, modelId: id }]),
  );
}

/** Plans with the default catalog and config. */
export function plan(
  requirements: GenerationRequirementsInput,
  statuses: Record<string, ModelAvailability | ModelStatus>,
  extra: Partial<PlanningInput> = {},
): ReturnType<typeof planFallback> {
  return planFallback({ catalog, config, requirements: withDefaults(requirements), availability: availability(statuses), ...extra });
}

export const ALL_AVAILABLE = { 't2v-A14B': 'available', 'i2v-A14B': 'available', 'ti2v-5B': 'available' } as const;
export const NONE_AVAILABLE = { 't2v-A14B': 'missing', 'i2v-A14B': 'missing', 'ti2v-5B': 'missing' } as const;
