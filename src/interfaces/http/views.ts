/**
 * How engine records are shown over HTTP: the plan, the strategy, the wait, the health and the generation, typed by
 * the schemas the docs come from. Old field names the API documented are sent beside the reference's for one release.
 */
import type { EstimatedWaitTime } from '../../core/estimates.js';
import type { SystemHealthStatus } from '../../core/health-assessment.js';
import type { JobEstimate } from '../../core/job-estimate.js';
import type { FallbackStrategy } from '../../core/planning.js';
import { isTerminalJobState, type Job } from '../../runtime/job.js';
import type { FallbackStrategyView, HealthView, PlanView, WaitTimeView } from './record-schemas.js';
import type { JobView } from './schemas.js';

/** The fields every view of a FallbackStrategy carries. */
function strategyFields(plan: FallbackStrategy) {
  return {
    strategyType: plan.strategyType,
    recommendedAction: plan.recommendedAction,
    alternativeModel: plan.alternativeModel ?? null,
    estimatedWaitTimeSeconds: plan.estimatedWaitTimeSeconds,
    userMessage: plan.userMessage,
    canQueueRequest: plan.canQueueRequest,
    confidenceScore: plan.confidenceScore,
    fallbackOptions: plan.fallbackOptions,
    requirementsAdjustments: plan.requirementsAdjustments,
    situation: plan.situation,
    model: plan.model,
    isPreview: plan.isPreview,
  };
}

/** The plan of a generation, with its deprecated names `strategy`, `confidence` and `estimatedWaitSeconds`. */
export function planView(plan: FallbackStrategy): PlanView {
  return {
    ...strategyFields(plan),
    strategy: plan.strategyType,
    confidence: plan.confidenceScore,
    estimatedWaitSeconds: plan.estimatedWaitTimeSeconds,
  };
}

/** The whole strategy (`POST /v1/fallback-strategy`, a 422's plan), with its deprecated name `confidence`. */
export function fallbackStrategyView(plan: FallbackStrategy): FallbackStrategyView {
  return {
    ...strategyFields(plan),
    alternative: plan.alternative ?? null,
    waitEstimate: plan.waitEstimate ?? null,
    queueRequestedModel: plan.queueRequestedModel,
    requirements: plan.requirements,
    confidence: plan.confidenceScore,
  };
}

/** A wait estimate, with its deprecated names `estimatedSeconds`, `downloadSeconds` and `queueSeconds`. */
export function waitTimeView(wait: EstimatedWaitTime): WaitTimeView {
  return {
    ...wait,
    estimatedSeconds: wait.totalWaitTimeSeconds,
    downloadSeconds: wait.downloadTimeSeconds,
    queueSeconds: wait.queueWaitTimeSeconds,
  };
}

/** The machine's health, with its deprecated names `overall`, `cpuPercent` and `memoryPercent`. */
export function healthView(health: SystemHealthStatus): HealthView {
  return {
    ...health,
    issues: [...health.issues],
    recommendations: [...health.recommendations],
    findings: [...health.findings],
    overall: health.overallStatus,
    cpuPercent: health.cpuUsagePercent,
    memoryPercent: health.memoryUsagePercent,
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
