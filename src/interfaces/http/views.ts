/** How engine records are shown over HTTP: the plan and the generation, typed by the schemas the docs come from. */
import type { JobEstimate } from '../../core/job-estimate.js';
import type { FallbackStrategy } from '../../core/planning.js';
import { isTerminalJobState, type Job } from '../../runtime/job.js';
import type { JobView, PlanView } from './schemas.js';

/** The plan as the API shows it. */
export function planView(plan: FallbackStrategy): PlanView {
  return {
    strategy: plan.strategyType,
    situation: plan.situation,
    model: plan.model,
    confidence: plan.confidence,
    userMessage: plan.userMessage,
    estimatedWaitSeconds: plan.estimatedSeconds,
    isPreview: plan.isPreview,
    requirementsAdjustments: plan.requirementsAdjustments,
    fallbackOptions: plan.fallbackOptions,
  };
}

/**
 * A generation as the API shows it, with its current estimate (none once it has ended, whatever a late refresh
 * kept); the output is a URL on this server, never a path on its disk.
 */
export function jobView(job: Job, estimate?: JobEstimate): JobView {
  const { modelType: _model, ...requirements } = job.request.requirements;
  return {
    id: job.id,
    status: job.status,
    requestedModel: job.requestedModel,
    modelUsed: job.modelUsed,
    waitingFor: job.waitingFor,
    priority: job.priority,
    prompt: job.request.prompt,
    hasImage: job.request.image !== undefined,
    requirements,
    plan: planView(job.plan),
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    progress: job.progress,
    progressMessage: job.progressMessage,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    deadline: job.deadline,
    output: job.output
      ? { url: outputUrl(job.id), mediaType: job.output.mediaType, sizeBytes: job.output.sizeBytes, isPreview: job.output.isPreview }
      : null,
    error: job.error,
    timeline: job.timeline,
    estimate: isTerminalJobState(job.status) ? null : (estimate ?? null),
    ...(job.parentJobId ? { parentJobId: job.parentJobId } : {}),
    ...(job.hybridOf ? { hybridOf: job.hybridOf } : {}),
  };
}

/** Where a generation's output file is served. */
export function outputUrl(jobId: string): string {
  return `/v1/generations/${encodeURIComponent(jobId)}/output`;
}
