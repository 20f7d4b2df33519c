/**
 * The jobs: filtered by state (with counts) and by text, a page at a time (the API's cursor), updated live from
 * the event stream: progress and state changes patch the rows shown, new and finished jobs refresh the page at
 * most once a second, so thousands of jobs and fast events cost the page no more than one page of rows.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { secondsLeft } from './estimate.js';
import { formatLeft, formatTime, shortId, words } from './format.js';
import { useLiveEvents, useNow, useThrottled } from './hooks.js';
import { FINAL_STATES, JOB_STATES, type ActivityView, type JobPageView, type JobState, type JobView, type PositionsView } from './types.js';
import { Badge, Bar, ErrorNote, Panel, PreviewLabel } from './widgets.js';

const PAGE_SIZES = [25, 50, 100, 200];

/** The jobs page. */
export function JobsView({ open }: { open: (id: string) => void }) {
  const [status, setStatus] = useState<JobState | ''>('');
  const [text, setText] = useState('');
  const [limit, setLimit] = useState(50);
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [page, setPage] = useState<JobPageView | null>(null);
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [positions, setPositions] = useState<Record<string, number | null>>({});
  const [error, setError] = useState<unknown>(null);
  const now = useNow();
  const cursor = cursors[cursors.length - 1];

  // What the user asks for loads at once; what events change is read again at most once a second. Only the latest
  // request's answer is shown (an older one can arrive later, for other filters).
  const latest = useRef(0);
  const fetchPage = () => {
    const request = ++latest.current;
    const query = new URLSearchParams({ limit: String(limit) });
    if (status) query.set('status', status);
    if (cursor) query.set('cursor', cursor);
    Promise.all([api<JobPageView>(`/v1/generations?${query}`), api<ActivityView>('/v1/activity')])
      .then(async ([p, activity]) => {
        const waiting = p.generations.filter((j) => j.status === 'queued').map((j) => j.id);
        const queued = waiting.length ? (await api<PositionsView>(`/v1/queue/positions?ids=${waiting.join(',')}`)).positions : {};
        if (request !== latest.current) return;
        setPage(p);
        setCounts(activity.counts);
        setPositions(queued);
        setError(null);
      })
      .catch((e: unknown) => {
        if (request === latest.current) setError(e);
      });
  };
  const load = useThrottled(fetchPage, 1000);
  useEffect(fetchPage, [status, limit, cursor]);

  useLiveEvents((event) => {
    if (!('jobId' in event)) return;
    const id = event.jobId;
    const shown = page?.generations.some((j) => j.id === id);
    if (event.type === 'job.progress') {
      if (shown) setPage((p) => p && { ...p, generations: p.generations.map((j) => (j.id === id ? { ...j, progress: event.progress, progressMessage: event.message } : j)) });
      return;
    }
    if (shown && 'status' in event) {
      const next = event.status;
      setPage((p) => p && { ...p, generations: p.generations.map((j) => (j.id === id ? { ...j, status: next } : j)) });
    }
    load();
  }, load);

  const choose = (next: JobState | '') => {
    setStatus(next);
    setCursors([undefined]);
  };
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const needle = text.trim().toLowerCase();
  const rows = (page?.generations ?? []).filter(
    (j) => !needle || [j.id, j.requestedModel, j.modelUsed, j.prompt, j.priority].some((v) => v.toLowerCase().includes(needle)),
  );

  return (
    <Panel
      title="Jobs"
      actions={
        <input type="search" placeholder="Filter this page: model, prompt, id" value={text} onInput={(e) => setText(e.currentTarget.value)} aria-label="filter" />
      }
    >
      <div class="filters" role="group" aria-label="state">
        <button type="button" aria-pressed={status === ''} onClick={() => choose('')}>
          all <span class="count">{total}</span>
        </button>
        {JOB_STATES.map((s) => (
          <button type="button" key={s} aria-pressed={status === s} onClick={() => choose(s)} data-state={s}>
            {words(s)} <span class="count">{counts[s] ?? 0}</span>
          </button>
        ))}
      </div>
      <ErrorNote error={error} />
      <div class="scroll">
        <table class="jobs" data-testid="jobs-table">
          <thead>
            <tr>
              <th scope="col">job</th>
              <th scope="col">state</th>
              <th scope="col">model (requested → used)</th>
              <th scope="col" class="narrow-hide">priority</th>
              <th scope="col">position</th>
              <th scope="col">estimate</th>
              <th scope="col">progress</th>
              <th scope="col" class="narrow-hide">accepted</th>
              <th scope="col">
                <span class="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((job) => (
              <JobRow key={job.id} job={job} position={positions[job.id] ?? null} now={now} open={open} onChange={load} />
            ))}
          </tbody>
        </table>
      </div>
      {page && rows.length === 0 && <p class="muted">No jobs here.</p>}
      <div class="pager">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← previous
        </button>
        <span class="muted">
          page {cursors.length} · {page?.total ?? 0} jobs{status ? ` ${words(status)}` : ''} · oldest first
        </span>
        <button type="button" disabled={!page?.nextCursor} onClick={() => page?.nextCursor && setCursors((c) => [...c, page.nextCursor ?? undefined])}>
          next →
        </button>
        <label>
          per page{' '}
          <select
            value={limit}
            onChange={(e) => {
              setLimit(Number(e.currentTarget.value));
              setCursors([undefined]);
            }}
          >
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
    </Panel>
  );
}

function JobRow({ job, position, now, open, onChange }: { job: JobView; position: number | null; now: number; open: (id: string) => void; onChange: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const left = secondsLeft(job, now);
  const cancel = () => void api(`/v1/generations/${job.id}`, { method: 'DELETE' }).then(onChange, setError);
  return (
    <tr data-job={job.id} data-status={job.status}>
      <td>
        <a
          href={`#/jobs/${job.id}`}
          onClick={(e) => {
            e.preventDefault();
            open(job.id);
          }}
        >
          <code>{shortId(job.id)}</code>
        </a>
        {job.output?.isPreview && <PreviewLabel />}
      </td>
      <td>
        <Badge value={job.status} />
      </td>
      <td>
        {job.requestedModel}
        {job.modelUsed !== job.requestedModel && <> → <strong>{job.modelUsed}</strong></>}
      </td>
      <td class="narrow-hide">{job.priority}</td>
      <td>{position !== null ? `#${position}` : job.status === 'waiting_for_model' ? `waits for ${job.waitingFor ?? 'model'}` : '—'}</td>
      <td>{left === null ? '—' : formatLeft(left)}</td>
      <td>{job.status === 'running' || job.progress > 0 ? <Bar value={job.progress} label={`progress of ${shortId(job.id)}`} /> : '—'}</td>
      <td class="narrow-hide">{formatTime(job.createdAt)}</td>
      <td>
        {!FINAL_STATES.has(job.status) && (
          <button type="button" class="small" onClick={cancel} aria-label={`cancel ${shortId(job.id)}`}>
            Cancel
          </button>
        )}
        <ErrorNote error={error} />
      </td>
    </tr>
  );
}
