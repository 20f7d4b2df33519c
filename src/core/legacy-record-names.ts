/**
 * Jobs stored before the records took the reference's field names (API 1.1) carry the old names in their request and
 * plan. Stores read every job through {@link upgradeLegacyNames}, so a job accepted before an upgrade is shown, planned
 * and expired as it was accepted. Pure: the stores call it on what they read.
 */
import type { FallbackStrategy } from './planning.js';
import type { GenerationRequirements } from './requirements.js';

type Loose = Record<string, unknown>;

const REQUIREMENTS = { maxWaitSeconds: 'maxWaitTimeSeconds' };
const STRATEGY = { estimatedSeconds: 'estimatedWaitTimeSeconds', confidence: 'confidenceScore', estimatedWaitTime: 'waitEstimate' };
const WAIT = { estimatedSeconds: 'totalWaitTimeSeconds', downloadSeconds: 'downloadTimeSeconds', queueSeconds: 'queueWaitTimeSeconds' };
const SUGGESTION = { estimatedGenerationSeconds: 'estimatedGenerationTimeSeconds' };

/** `record` with each old key of `names` moved to its new one (a copy; the same object when there is nothing to move). */
function renamed<T>(record: T, names: Record<string, string>): T {
  const loose = record as Loose | undefined;
  if (!loose || !Object.keys(names).some((old) => old in loose)) return record;
  const out: Loose = { ...loose };
  for (const [old, now] of Object.entries(names)) {
    if (!(old in out)) continue;
    if (!(now in out)) out[now] = out[old];
    delete out[old];
  }
  return out as T;
}

/** A stored request and plan under the current names; records already current come back unchanged. */
export function upgradeLegacyNames<R extends { requirements: GenerationRequirements }>(request: R, plan: FallbackStrategy): { request: R; plan: FallbackStrategy } {
  if (!('estimatedSeconds' in plan)) return { request, plan };
  const upgraded = renamed(plan, STRATEGY);
  const wait = upgraded.waitEstimate && renamed(upgraded.waitEstimate, WAIT);
  return {
    request: { ...request, requirements: renamed(request.requirements, REQUIREMENTS) },
    plan: {
      ...upgraded,
      requirements: renamed(upgraded.requirements, REQUIREMENTS),
      ...(wait && { waitEstimate: { ...wait, queuePosition: wait.queuePosition ?? null } }),
      ...(upgraded.alternative && { alternative: renamed(upgraded.alternative, SUGGESTION) }),
    },
  };
}
