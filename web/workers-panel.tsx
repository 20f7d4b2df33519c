/**
 * The live workers: each worker process with its version, when it started, its last heartbeat and claim, free disk,
 * and per backend its slots in use, installed models and downloads under way. With the embedded store it is this
 * process alone.
 */
import { formatBytes, formatPercent, formatTime } from './format.js';
import type { WorkersView } from './types.js';
import { Badge, Panel } from './widgets.js';

/** The workers panel of the backends and health page. */
export function WorkersPanel({ view }: { view: WorkersView }) {
  return (
    <Panel title={`Workers (${view.workers.length})`}>
      {view.workers.length === 0 && <p class="error">No worker is live: accepted jobs wait until one joins.</p>}
      {view.workers.length > 0 && (
        <div class="scroll">
          <table data-testid="workers">
            <thead>
              <tr>
                <th scope="col">worker</th>
                <th scope="col">backends</th>
                <th scope="col">installed</th>
                <th scope="col">downloading</th>
                <th scope="col">disk free</th>
                <th scope="col">last heartbeat</th>
                <th scope="col">last claim</th>
              </tr>
            </thead>
            <tbody>
              {view.workers.map((w) => (
                <tr key={w.workerId} data-worker={w.workerId}>
                  <td>
                    {w.workerId} <span class="muted">v{w.version}, since {formatTime(w.startedAt)}</span>
                  </td>
                  <td>
                    {w.backends.map((b) => (
                      <div key={b.backendId}>
                        {b.backendId} <Badge value={b.breakerOpen ? 'open' : b.health} /> {b.busy}/{b.slots} busy
                      </div>
                    ))}
                  </td>
                  <td>{[...new Set(w.backends.flatMap((b) => b.installed))].join(', ') || <span class="muted">nothing</span>}</td>
                  <td>
                    {w.backends.flatMap((b) => b.downloading).map((d) => (
                      <div key={d.modelId}>
                        {d.modelId} {d.bytesTotal ? formatPercent(d.bytesDone / d.bytesTotal) : formatBytes(d.bytesDone)}
                      </div>
                    ))}
                  </td>
                  <td>{w.diskFreeBytes === null ? '—' : formatBytes(w.diskFreeBytes)}</td>
                  <td>{formatTime(w.sentAt)}</td>
                  <td>{w.lastClaimAt === null ? <span class="muted">none yet</span> : formatTime(w.lastClaimAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
