// Suggestions, a strategy and a wait estimate for a request whose model is not downloaded.
import { IntelligentFallbackManager, StaticAvailability, SystemClock } from '../src/index.js';

const availability = new StaticAvailability([
  { modelId: 't2v-A14B', status: 'missing' },
  { modelId: 'i2v-A14B', status: 'missing' },
  { modelId: 'ti2v-5B', status: 'available' },
]);
const manager = new IntelligentFallbackManager({ availability, clock: new SystemClock() });

const requirements = { hasImage: true, quality: 'high' } as const;
const ranked = await manager.rankAlternatives('i2v-A14B', requirements);
for (const s of ranked.suggestions) console.log(`suggestion: ${s.suggestedModel} ${s.compatibilityScore.toFixed(2)} (${s.reason})`);
for (const e of ranked.excluded) console.log(`excluded: ${e.model}: ${e.reason}`);

const strategy = await manager.getFallbackStrategy('i2v-A14B', { requirements });
console.log(`strategy: ${strategy.strategyType} on ${strategy.model}: ${strategy.userMessage}`);

const wait = await manager.estimateWaitTime('t2v-A14B');
console.log(`wait for t2v-A14B: ${Math.round(wait.totalWaitTimeSeconds)} s (${wait.confidence}): ${wait.factors.join('; ')}`);
