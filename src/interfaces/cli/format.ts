/** Human-readable output of the CLI: plain text, aligned columns, durations in words. */
import { formatBytes } from '../../core/estimates.js';
import type { RecoveryStatistics } from '../../runtime/recovery/fallback-recovery-system.js';
import type { AlternativesView, FallbackStrategyView, HealthView, WaitTimeView } from '../http/record-schemas.js';
import type { JobView, ModelView, PlanView } from '../http/schemas.js';

/** Seconds in words: `2.4 s`, `4 min 6 s`, `1 h 3 min`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
}

export { formatBytes };

/** Rows as aligned columns; the first row is the header. */
export function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** A plan: what will happen, why, and the options that lost. */
export function formatPlan(plan: PlanView): string {
  const lines = [
    `plan: ${plan.strategyType} on ${plan.model}${plan.isPreview ? ' (PREVIEW, not a real generation)' : ''}, confidence ${plan.confidenceScore.toFixed(2)}, result in about ${formatSeconds(plan.estimatedWaitTimeSeconds)}`,
    `  ${plan.userMessage}`,
  ];
  for (const a of plan.requirementsAdjustments) lines.push(`  adjusted ${a.field}: ${a.from} -> ${a.to} (${a.reason})`);
  const lost = plan.fallbackOptions.filter((o) => !o.chosen);
  if (lost.length > 0) {
    lines.push('  options considered:');
    for (const o of plan.fallbackOptions) {
      const score = o.score !== undefined ? ` score ${o.score.toFixed(2)}` : '';
      lines.push(`    ${o.chosen ? '*' : '-'} ${o.type}${o.model ? ` (${o.model})` : ''}${score}${o.chosen ? ' chosen' : `: ${o.whyNot ?? ''}`}`);
    }
  }
  return lines.join('\n');
}

/** The outcome of a generation: status, output or error. */
export function formatOutcome(job: JobView): string {
  switch (job.status) {
    case 'succeeded': {
      const out = job.output!;
      const label = out.isPreview ? 'PREVIEW (a labelled placeholder, not a generated video)' : 'video';
      return `succeeded on ${job.modelUsed}: ${label}, ${out.mediaType}, ${formatBytes(out.sizeBytes)} at ${out.url}`;
    }
    case 'failed':
    case 'cancelled':
    case 'expired':
      return `${job.status}${job.error ? `: ${job.error.failureType ? `${job.error.failureType}: ` : ''}${job.error.message}` : ''}`;
    default:
      return `${job.status}${job.progress > 0 ? ` (${Math.round(job.progress * 100)}%)` : ''}${job.waitingFor ? `, waiting for ${job.waitingFor}` : ''}`;
  }
}

/** A job's timeline, times relative to its acceptance. */
export function formatTimeline(job: JobView): string {
  return job.timeline
    .filter((e) => e.kind !== 'progress')
    .map((e) => `  +${formatSeconds((e.at - job.createdAt) / 1000).padStart(9)}  ${e.kind.padEnd(17)} ${e.message}`)
    .join('\n');
}

/** Everything about one generation. */
export function formatJob(job: JobView): string {
  const lines = [
    `generation ${job.id}`,
    `  status:    ${formatOutcome(job)}`,
    `  requested: ${job.requestedModel}; running on ${job.modelUsed}; priority ${job.priority}; attempts ${job.attempts} of ${job.maxAttempts}`,
    `  prompt:    ${job.prompt ? JSON.stringify(job.prompt) : '(none)'}${job.hasImage ? ' + image' : ''}`,
    `  accepted:  ${new Date(job.createdAt).toISOString()}`,
  ];
  if (job.hybridOf) lines.push(`  hybrid:    the alternative generation ${job.hybridOf} runs first`);
  if (job.estimate) lines.push(`  ${formatEstimate(job.estimate)}`);
  lines.push(formatPlan(job.plan).replace(/^/gm, '  '), '  timeline:', formatTimeline(job));
  return lines.join('\n');
}

/** A job's current estimate, relative to when it was made: `estimate: starts in 2 min, result in 4 min 10 s (high confidence)`. */
export function formatEstimate(estimate: NonNullable<JobView['estimate']>): string {
  if (estimate.startAt === null || estimate.resultAt === null) return 'estimate: none (nothing can run it as things stand)';
  const start = estimate.startAt <= estimate.estimatedAt ? 'started' : `starts in ${formatSeconds((estimate.startAt - estimate.estimatedAt) / 1000)}`;
  return `estimate: ${start}, result in ${formatSeconds(Math.max(0, (estimate.resultAt - estimate.estimatedAt) / 1000))} (${estimate.confidence} confidence)`;
}

/** A page of generations as a table. */
export function formatJobs(jobs: readonly JobView[], total: number, nextCursor: string | null): string {
  if (jobs.length === 0) return 'no generations';
  const rows = [['ID', 'STATUS', 'REQUESTED', 'RUNS ON', 'PLAN', 'PROGRESS', 'ACCEPTED']];
  for (const j of jobs) {
    rows.push([j.id, j.status, j.requestedModel, j.modelUsed, j.plan.strategyType, `${Math.round(j.progress * 100)}%`, new Date(j.createdAt).toISOString()]);
  }
  return `${table(rows)}\n${jobs.length} of ${total}${nextCursor ? `; next page: --cursor ${nextCursor}` : ''}`;
}

/** The catalog with availability. */
export function formatModels(models: readonly ModelView[]): string {
  const rows = [['MODEL', 'STATUS', 'INPUTS', 'CAPABILITIES', 'VRAM', 'SIZE']];
  for (const m of models) {
    const inputs = Object.entries(m.inputs).filter(([, use]) => use !== 'unsupported').map(([k, use]) => (use === 'optional' ? `${k}?` : k)).join('+');
    const status = m.download ? `${m.status} ${Math.round(m.download.progress * 100)}%` : m.status;
    rows.push([m.id, status, inputs, m.capabilities.join(','), `${m.baseVramGb} GB`, `${m.sizeGb} GB`]);
  }
  return table(rows);
}

/** Ranked stand-ins and the models ruled out. */
export function formatAlternatives(ranked: AlternativesView): string {
  const lines = [`alternatives for ${ranked.requestedModel}:`];
  if (ranked.suggestions.length === 0) lines.push('  none qualifies');
  for (const s of ranked.suggestions) lines.push(`  ${s.suggestedModel}  ${s.compatibilityScore.toFixed(2)}  ${s.availabilityStatus}  ${s.reason}`);
  for (const e of ranked.excluded) lines.push(`  excluded ${e.model}: ${e.reason}`);
  return lines.join('\n');
}

/** A wait estimate with its reasons. */
export function formatWait(wait: WaitTimeView): string {
  return [`${wait.modelId}: about ${formatSeconds(wait.totalWaitTimeSeconds)} (${wait.confidence} confidence)`, ...wait.factors.map((f) => `  ${f}`)].join('\n');
}

/** A strategy asked for on demand. */
export function formatStrategy(strategy: FallbackStrategyView): string {
  return [
    `${strategy.strategyType} on ${strategy.model} (situation ${strategy.situation}, confidence ${strategy.confidenceScore.toFixed(2)})`,
    `  ${strategy.userMessage}`,
    ...strategy.fallbackOptions.map((o) => `  ${o.chosen ? '*' : '-'} ${o.type}${o.model ? ` (${o.model})` : ''}${o.chosen ? ' chosen' : `: ${o.whyNot ?? ''}`}`),
  ].join('\n');
}

/** Queue totals. */
export function formatQueue(queue: { totalQueuedRequests: number; queueByModel: Record<string, number>; maxQueueSize: number; queueUtilization: number }): string {
  const lines = [`${queue.totalQueuedRequests} of ${queue.maxQueueSize} waiting (${queue.queueUtilization.toFixed(1)}%)`];
  for (const [model, n] of Object.entries(queue.queueByModel)) lines.push(`  ${model}: ${n}`);
  return lines.join('\n');
}

/** The machine's health. */
export function formatHealth(h: HealthView): string {
  const pct = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(1)}%`);
  const works = (ok: boolean): string => (ok ? 'working' : 'NOT WORKING');
  const lines = [
    `health: ${h.overallStatus}`,
    `  cpu ${pct(h.cpuUsagePercent)}, memory ${pct(h.memoryUsagePercent)}, vram ${h.vram ? `${pct(h.vramUsagePercent)} (${h.vram.usedGb.toFixed(1)} of ${h.vram.totalGb.toFixed(1)} GB on ${h.vram.device})` : 'n/a'}, gpu ${h.gpuAvailable ? 'available' : 'not found'}`,
    `  model loading ${works(h.modelLoadingFunctional)}, generation pipeline ${works(h.generationPipelineFunctional)}`,
  ];
  for (const issue of h.issues) lines.push(`  issue: ${issue}`);
  for (const r of h.recommendations) lines.push(`  recommendation: ${r}`);
  return lines.join('\n');
}

/** Recovery statistics. */
export function formatRecoveryStats(s: RecoveryStatistics): string {
  const lines = [
    `recovery: ${s.totalAttempts} attempts, ${s.successfulAttempts} succeeded (${s.successRate}%); ${s.failuresHandled} failures handled, ${s.failuresRecovered} recovered, ${s.skippedForCooldown} skipped in cooldown`,
    `  mean time to recover ${formatSeconds(s.meanTimeToRecoverMs / 1000)}; preview mode ${s.mockModeActive ? 'ON' : 'off'}; ${s.degradedMode ? `degraded: ${s.degradedReasons.join('; ')}` : 'not degraded'}`,
  ];
  for (const [action, n] of Object.entries(s.attemptsByAction)) {
    if (n > 0) lines.push(`  ${action}: ${s.successesByAction[action as keyof typeof s.successesByAction]} of ${n} succeeded`);
  }
  return lines.join('\n');
}
