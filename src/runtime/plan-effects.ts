import type { FallbackStrategy } from '../core/planning.js';
import { PREVIEW_MODEL_ID } from '../core/scoring.js';

/** The model a plan's job runs on: the preview renderer for a preview (`mock_generation`) plan, else the plan's model. */
export function modelToRun(plan: FallbackStrategy): string {
  return plan.strategyType === 'mock_generation' ? PREVIEW_MODEL_ID : plan.model;
}

/** Whether a plan's job waits for its model (`queue_and_wait`, `download_and_retry`) before it can run. */
export function planWaits(plan: FallbackStrategy): boolean {
  return plan.strategyType === 'queue_and_wait' || plan.strategyType === 'download_and_retry';
}
