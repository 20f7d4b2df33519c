/**
 * `GET /metrics` in Prometheus text format. Counters and histograms follow the engine's events and planning
 * decisions as they happen; job and queue gauges are read from the store at scrape time; health gauges keep the
 * latest health check. Each server has its own registry, so several can live in one process (tests).
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OverallHealth } from '../../core/health-assessment.js';
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import { JOB_STATES } from '../../runtime/job.js';
import type { Understudy } from '../../runtime/understudy.js';
import { readQueueTotals } from './queue-totals.js';

const HEALTH_LEVEL: Record<OverallHealth, number> = { healthy: 0, degraded: 1, critical: 2 };

/** Registers the metrics and the `/metrics` route; the subscriptions end when the server closes. */
export function installMetrics(app: FastifyInstance, understudy: Understudy): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'understudy_' });

  const jobs = new Gauge({ name: 'understudy_jobs', help: 'Jobs in the store by state', labelNames: ['state'], registers: [registry] });
  const queueDepth = new Gauge({ name: 'understudy_queue_depth', help: 'Jobs waiting, by the model they run on or wait for', labelNames: ['model'], registers: [registry] });
  const queueMax = new Gauge({ name: 'understudy_queue_max_size', help: 'Most jobs that may wait at once', registers: [registry] });
  let healthSeen = false;
  /** Reads the store's figures, and checks health once if no check has been seen yet; called on every scrape. */
  const refresh = async (): Promise<void> => {
    if (!healthSeen) await understudy.recovery.getSystemHealthStatus();
    const [counts, queue] = await Promise.all([understudy.jobCounts(), readQueueTotals(understudy)]);
    for (const state of JOB_STATES) jobs.set({ state }, counts[state]);
    queueDepth.reset();
    for (const [model, n] of Object.entries(queue.queueByModel)) queueDepth.set({ model }, n);
    queueMax.set(queue.maxQueueSize);
  };

  const decisions = new Counter({
    name: 'understudy_plan_decisions_total',
    help: 'Planning decisions by chosen strategy and situation',
    labelNames: ['strategy', 'situation'],
    registers: [registry],
  });
  const planning = new Histogram({
    name: 'understudy_planning_duration_seconds',
    help: 'Time to make one planning decision',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    registers: [registry],
  });
  const recoveries = new Counter({
    name: 'understudy_recovery_attempts_total',
    help: 'Recovery actions tried, by failure type, action and result',
    labelNames: ['failure_type', 'action', 'result'],
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'understudy_job_duration_seconds',
    help: 'Time from acceptance to the end of a job, by final state',
    labelNames: ['outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600],
    registers: [registry],
  });
  const health = new Gauge({ name: 'understudy_health_level', help: 'Latest health verdict: 0 healthy, 1 degraded, 2 critical', registers: [registry] });
  const resources = new Gauge({
    name: 'understudy_resource_used_percent',
    help: 'Latest health check: percent of CPU, memory and VRAM in use',
    labelNames: ['resource'],
    registers: [registry],
  });
  const gpu = new Gauge({ name: 'understudy_gpu_available', help: '1 when a GPU was found at the latest health check', registers: [registry] });
  const mock = new Gauge({ name: 'understudy_mock_mode_active', help: '1 while preview (mock) mode is active', registers: [registry] });
  const degraded = new Gauge({ name: 'understudy_degraded_mode', help: '1 while running below full capability', registers: [registry] });

  const onEvent = (event: UnderstudyEvent): void => {
    switch (event.type) {
      case 'recovery_attempt': {
        const { failureType, action, success } = event.attempt;
        recoveries.inc({ failure_type: failureType, action, result: success ? 'success' : 'failure' });
        return;
      }
      case 'health_status': {
        const h = event.health;
        healthSeen = true;
        health.set(HEALTH_LEVEL[h.overallStatus]);
        gpu.set(h.gpuAvailable ? 1 : 0);
        if (h.cpuUsagePercent !== null) resources.set({ resource: 'cpu' }, h.cpuUsagePercent);
        if (h.memoryUsagePercent !== null) resources.set({ resource: 'memory' }, h.memoryUsagePercent);
        if (h.vramUsagePercent !== null) resources.set({ resource: 'vram' }, h.vramUsagePercent);
        return;
      }
      case 'system_status':
        mock.set(event.status.mockModeActive ? 1 : 0);
        degraded.set(event.status.degradedMode ? 1 : 0);
        return;
      case 'job.succeeded':
      case 'job.failed':
      case 'job.cancelled':
      case 'job.expired': {
        const { at, status } = event;
        void understudy.get(event.jobId).then(
          (job) => job && jobDuration.observe({ outcome: status }, Math.max(0, (at - job.createdAt) / 1000)),
          () => undefined,
        );
        return;
      }
    }
  };
  const subscriptions = [
    understudy.onEvent(onEvent),
    understudy.manager.onDecision(({ strategy, durationMs }) => {
      decisions.inc({ strategy: strategy.strategyType, situation: strategy.situation });
      planning.observe(durationMs / 1000);
    }),
  ];
  app.addHook('onClose', async () => {
    for (const s of subscriptions) s.dispose();
  });

  app.get('/metrics', async (_request, reply) => {
    await refresh();
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
