/**
 * Planning speed: suggestions and strategies per second, p50 and p99 latency, for catalogs of 3, 100 and 1,000
 * models. Run: npm run bench:planning. Targets: a strategy on 3 models under 5 µs p50; under 1 ms p99 at 1,000.
 */
import { DEFAULT_COMPATIBILITY, DEFAULT_MODELS, createCatalog, type Catalog, type ModelDescriptor } from '../src/core/catalog.js';
import type { ModelStatus } from '../src/core/availability.js';
import { PlannerConfigSchema, planFallback } from '../src/core/planning.js';
import { withDefaults, type GenerationRequirements } from '../src/core/requirements.js';
import { ScoringConfigSchema, rankAlternatives } from '../src/core/scoring.js';
import { EstimationConfigSchema } from '../src/core/estimates.js';
import { MODEL_CAPABILITIES } from '../src/core/vocabulary.js';

/** A catalog of `size` models: the three Wan2.2 models plus generated ones with seeded random profiles. */
function generatedCatalog(size: number): Catalog {
  let seed = 42;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const models: ModelDescriptor[] = [...DEFAULT_MODELS];
  const compatibility: Record<string, Record<string, number>> = structuredClone(DEFAULT_COMPATIBILITY) as Record<string, Record<string, number>>;
  for (let i = models.length; i < size; i++) {
    const caps = MODEL_CAPABILITIES.filter(() => random() < 0.5);
    const image = random();
    models.push({
      id: `gen-${i}`,
      inputs: { text: image < 0.3 ? 'optional' : 'required', image: image < 0.3 ? 'required' : image < 0.6 ? 'optional' : 'unsupported' },
      capabilities: caps.length ? caps : ['text_to_video'],
      qualityRank: 0.3 + random() * 0.7,
      baseVramGb: 4 + random() * 20,
      sizeGb: 2 + random() * 30,
      baseSeconds: 30 + random() * 300,
      files: [],
    });
    compatibility['t2v-A14B']![`gen-${i}`] = Math.round(random() * 100) / 100;
  }
  return createCatalog(models, compatibility);
}

function availability(catalog: Catalog): Map<string, ModelStatus> {
  return new Map(catalog.models.map((m, i) => [m.id, { modelId: m.id, status: i % 3 === 0 ? 'missing' : 'available' }]));
}

function measure(iterations: number, fn: () => unknown): { perSecond: number; p50: number; p99: number } {
  for (let i = 0; i < Math.min(iterations, 2000); i++) fn();
  const samples = new Float64Array(iterations);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const total = Number(process.hrtime.bigint() - started) / 1e9;
  samples.sort();
  return { perSecond: iterations / total, p50: samples[Math.floor(iterations * 0.5)]!, p99: samples[Math.floor(iterations * 0.99)]! };
}

const config = PlannerConfigSchema.parse({});
const scoring = ScoringConfigSchema.parse({});
const estimation = EstimationConfigSchema.parse({});
const requirements: GenerationRequirements = withDefaults({ modelType: 't2v-A14B', quality: 'high', resolution: '1920x1080' });
const rows: string[][] = [];
for (const size of [3, 100, 1000]) {
  const catalog = generatedCatalog(size);
  const avail = availability(catalog);
  const iterations = size === 3 ? 200_000 : size === 100 ? 20_000 : 3_000;
  const suggest = measure(iterations, () => rankAlternatives({ catalog, requirements, availability: avail, scoring, estimation }));
  const strategy = measure(iterations, () => planFallback({ catalog, requirements, availability: avail, config }));
  const oom = measure(iterations, () =>
    planFallback({ catalog, requirements, availability: avail, config, failureType: 'vram_exhaustion', vramBudgetGb: 10 }),
  );
  for (const [name, m] of [['suggestions', suggest], ['strategy (missing model)', strategy], ['strategy (out of memory)', oom]] as const) {
    rows.push([String(size), name, Math.round(m.perSecond).toLocaleString('en-US'), m.p50.toFixed(2), m.p99.toFixed(2)]);
  }
}
const header = ['models', 'operation', 'ops/s', 'p50 µs', 'p99 µs'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
