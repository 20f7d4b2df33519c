/**
 * Backends and health: each backend with a VRAM gauge, loaded models, breaker and cooldowns; the live workers; the machine's health;
 * recovery statistics by action with MTTR; and the last hour of queue depth and throughput.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { ActivityChart } from './chart.js';
import { formatBytes, formatMs, formatSeconds, formatTime, words } from './format.js';
import { useLiveEvents, useThrottled } from './hooks.js';
import type { ActivityView, BackendsView, HealthView, RecoveryStatistics, SystemHealthStatus, WorkersView } from './types.js';
import { Badge, ErrorNote, Panel } from './widgets.js';
import { WorkersPanel } from './workers-panel.js';

/** The backends and health page. */
export function SystemView() {
  const [backends, setBackends] = useState<BackendsView | null>(null);
  // The route's answer (a HealthView) or a health_status event's record: the same fields, less the deprecated names.
  const [health, setHealth] = useState<SystemHealthStatus | null>(null);
  const [stats, setStats] = useState<RecoveryStatistics | null>(null);
  const [activity, setActivity] = useState<ActivityView | null>(null);
  const [workers, setWorkers] = useState<WorkersView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useThrottled(() => {
    Promise.all([
      api<BackendsView>('/v1/backends').then(setBackends),
      api<HealthView>('/v1/health').then(setHealth),
      api<RecoveryStatistics>('/v1/recovery/stats').then(setStats),
      api<ActivityView>('/v1/activity').then(setActivity),
      api<WorkersView>('/v1/workers').then(setWorkers),
    ]).then(() => setError(null), setError);
  }, 2000);
  useEffect(load, []);
  useLiveEvents((event) => {
    if (event.type === 'health_status') setHealth(event.health);
    else if (event.type !== 'job.progress' && event.type !== 'download.progress') load();
  }, load);
  const reset = () => void api<RecoveryStatistics>('/v1/recovery/reset', { method: 'POST' }).then(setStats, setError);

  return (
    <div class="stack">
      <ErrorNote error={error} />
      <Panel title="Backends">
        {backends?.mockModeActive && <p class="error">Preview mode is on: results are labelled previews until a backend works again.</p>}
        <div class="cards">
          {backends?.backends.map((b) => (
            <article class="card" key={b.id} data-backend={b.id} aria-label={b.id}>
              <header class="card-head">
                <h3>{b.id}</h3>
                <Badge value={b.breaker.state} />
              </header>
              {b.vram ? (
                <div class="gauge">
                  <meter min={0} max={b.vram.totalGb} value={b.vram.usedGb} high={b.vram.totalGb * 0.9} optimum={0} aria-label={`VRAM of ${b.id}`} />
                  <span>
                    VRAM {b.vram.usedGb.toFixed(1)} of {b.vram.totalGb.toFixed(1)} GB
                  </span>
                </div>
              ) : (
                <p class="muted">no GPU</p>
              )}
              <p>
                {b.slots} slot{b.slots === 1 ? '' : 's'} · loaded: {b.loadedModels.length ? b.loadedModels.join(', ') : <span class="muted">nothing</span>}
              </p>
              <p class="muted">
                breaker {words(b.breaker.state)}, {b.breaker.consecutiveFailures} failures in a row
                {b.breaker.reopensAt ? `, probes again at ${formatTime(b.breaker.reopensAt)}` : ''}
              </p>
              {b.modelBreakers.map((m) => (
                <p key={m.modelId}>
                  {m.modelId}: <Badge value={m.state} /> {m.consecutiveFailures} failures
                </p>
              ))}
              {b.cooldowns.map((c) => (
                <p key={c.failureType} class="muted">
                  cooldown {words(c.failureType)}: {formatSeconds(c.remainingSeconds)}
                </p>
              ))}
              {b.error && <p class="error">{b.error}</p>}
            </article>
          ))}
        </div>
      </Panel>
      {workers && <WorkersPanel view={workers} />}
      {!health && (
        <Panel title="Health">
          <p class="muted">Checking…</p>
        </Panel>
      )}
      {health && (
        <Panel title="Health">
          <dl class="facts">
            <dt>overall</dt>
            <dd data-testid="health-overall">
              <Badge value={health.overallStatus} />
            </dd>
            <dt>CPU</dt>
            <dd>{health.cpuUsagePercent === null ? '—' : `${health.cpuUsagePercent.toFixed(0)} %`}</dd>
            <dt>memory</dt>
            <dd>{health.memoryUsagePercent === null ? '—' : `${health.memoryUsagePercent.toFixed(0)} %`}</dd>
            <dt>disk free</dt>
            <dd>{health.diskFreeBytes === null ? '—' : formatBytes(health.diskFreeBytes)}</dd>
            <dt>GPU</dt>
            <dd>
              {health.vram && health.vramUsagePercent !== null
                ? `${health.vram.device}: ${health.vramUsagePercent.toFixed(0)} % of ${health.vram.totalGb.toFixed(0)} GB`
                : health.gpuAvailable
                  ? 'yes'
                  : 'none'}
            </dd>
            <dt>model loading</dt>
            <dd data-testid="health-model-loading">{health.modelLoadingFunctional ? 'working' : <strong>not working</strong>}</dd>
            <dt>generation pipeline</dt>
            <dd data-testid="health-pipeline">{health.generationPipelineFunctional ? 'working' : <strong>not working</strong>}</dd>
            <dt>checked</dt>
            <dd>{formatTime(health.lastCheckTimestamp)}</dd>
          </dl>
          {health.issues.length > 0 && (
            <ul>
              {health.issues.map((issue, i) => (
                <li key={i}>
                  {issue} <span class="muted">{health.recommendations[i]}</span>
                </li>
              ))}
            </ul>
          )}
        </Panel>
      )}
      {stats && (
        <Panel
          title="Recovery"
          actions={
            <button type="button" onClick={reset}>
              Reset recovery state
            </button>
          }
        >
          <p>
            {stats.totalAttempts} attempts, {stats.successRate} % successful · {stats.failuresHandled} failures handled, {stats.failuresRecovered} recovered · MTTR{' '}
            {formatMs(stats.meanTimeToRecoverMs)}
            {stats.degradedMode && <> · degraded: {stats.degradedReasons.join(', ')}</>}
          </p>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">action</th>
                  <th scope="col">attempts</th>
                  <th scope="col">succeeded</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(stats.attemptsByAction).map(([action, n]) => (
                  <tr key={action}>
                    <td>{words(action)}</td>
                    <td>{n}</td>
                    <td>{stats.successesByAction[action as keyof typeof stats.successesByAction]}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Panel>
      )}
      {activity && (
        <Panel title="Last hour">
          <ActivityChart activity={activity} />
        </Panel>
      )}
    </div>
  );
}
