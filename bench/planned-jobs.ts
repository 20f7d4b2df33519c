/** Jobs as a submit stores them, for the store benches: planned by the real planner, so each record is the real size. */
import { createCatalog } from '../src/core/catalog.js';
import { PlannerConfigSchema, planFallback } from '../src/core/planning.js';
import { withDefaults } from '../src/core/requirements.js';
import { PRIORITIES } from '../src/core/vocabulary.js';
import type { NewJob } from '../src/runtime/job.js';

/** The catalog's three models, which the benches spread their jobs over. */
export const BENCH_MODELS = ['t2v-A14B', 'i2v-A14B', 'ti2v-5B'] as const;

const catalog = createCatalog();
const plannerConfig = PlannerConfigSchema.parse({});
const allAvailable = new Map(BENCH_MODELS.map((modelId) => [modelId, { modelId, status: 'available' as const }]));

/** The i-th bench job: models and priorities in turn, every model available, a day to wait. */
export function plannedJob(i: number): NewJob {
  const model = BENCH_MODELS[i % BENCH_MODELS.length] ?? 't2v-A14B';
  const requirements = withDefaults({ modelType: model, priority: PRIORITIES[(i * 7) % PRIORITIES.length], maxWaitTimeSeconds: 86_400 });
  const plan = planFallback({ catalog, config: plannerConfig, requirements, availability: allAvailable });
  return { request: { prompt: `bench prompt ${i}: a lighthouse in a storm, cinematic`, requirements }, plan };
}
