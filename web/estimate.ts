/** The moving estimate of a job: time left until its result, from its plan while it waits and its progress while it runs. */
import type { JobView } from './types.js';

/** Seconds left, or null when the job is finished or nothing honest can be said yet. */
export function secondsLeft(job: JobView, now: number): number | null {
  if (job.status === 'running') {
    const started = [...job.timeline].reverse().find((e) => e.kind === 'started')?.at;
    if (started === undefined || job.progress <= 0.02) return null;
    const elapsed = (now - started) / 1000;
    return (elapsed * (1 - job.progress)) / job.progress;
  }
  if (job.status === 'queued' || job.status === 'waiting_for_model') {
    const planned = [...job.timeline].reverse().find((e) => e.kind === 'planned' || e.kind === 'replanned')?.at ?? job.createdAt;
    return Math.max(0, (planned + job.plan.estimatedWaitTimeSeconds * 1000 - now) / 1000);
  }
  return null;
}
