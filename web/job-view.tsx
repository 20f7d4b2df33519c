/** One job: its state, the plan and every option weighed, the timeline of attempts and re-plans, progress, and the output. */
import { useEffect, useState } from 'preact/hooks';
import { api, send } from './api.js';
import { secondsLeft } from './estimate.js';
import { formatBytes, formatLeft, formatTime, words } from './format.js';
import { useLiveEvents, useNow, useThrottled } from './hooks.js';
import { PlanDetails } from './plan-view.js';
import { FINAL_STATES, type JobView } from './types.js';
import { Badge, Bar, ErrorNote, Panel, PreviewLabel } from './widgets.js';

/** The job page. */
export function JobView({ id, back }: { id: string; back: () => void }) {
  const [job, setJob] = useState<JobView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const now = useNow();
  const load = useThrottled(() => {
    api<JobView>(`/v1/generations/${encodeURIComponent(id)}`).then((j) => {
      setJob(j);
      setError(null);
    }, setError);
  }, 250);
  useEffect(load, [id]);
  useLiveEvents((event) => {
    const about = 'jobId' in event ? event.jobId : event.type === 'recovery_attempt' ? event.attempt.context.jobId : undefined;
    if (about !== id) return;
    if (event.type === 'job.progress') setJob((j) => j && { ...j, progress: event.progress, progressMessage: event.message });
    else load();
  }, load);

  if (!job) return <Panel title="Job">{error ? <ErrorNote error={error} /> : <p class="muted">Loading…</p>}</Panel>;
  const left = secondsLeft(job, now);
  const cancel = () => void api<JobView>(`/v1/generations/${job.id}`, { method: 'DELETE' }).then(setJob, setActionError);
  return (
    <div class="stack">
      <Panel
        title={`Job ${job.id}`}
        actions={
          <>
            <button type="button" onClick={back}>
              ← jobs
            </button>
            {!FINAL_STATES.has(job.status) && (
              <button type="button" class="danger" onClick={cancel}>
                Cancel job
              </button>
            )}
          </>
        }
      >
        <ErrorNote error={actionError} />
        <dl class="facts">
          <dt>state</dt>
          <dd data-testid="job-status">
            <Badge value={job.status} />
          </dd>
          <dt>requested</dt>
          <dd>{job.requestedModel}</dd>
          <dt>runs on</dt>
          <dd>{job.modelUsed}</dd>
          <dt>priority</dt>
          <dd>{job.priority}</dd>
          <dt>attempts</dt>
          <dd>
            {job.attempts} of {job.maxAttempts}
          </dd>
          <dt>accepted</dt>
          <dd>{formatTime(job.createdAt)}</dd>
          {left !== null && (
            <>
              <dt>estimate</dt>
              <dd>{formatLeft(left)}</dd>
            </>
          )}
          {job.hybridOf && (
            <>
              <dt>runs first as</dt>
              <dd>
                <a href={`#/jobs/${job.hybridOf}`}>{job.hybridOf}</a> <span class="muted">(the alternative of this hybrid plan)</span>
              </dd>
            </>
          )}
          {job.parentJobId && (
            <>
              <dt>made from</dt>
              <dd>
                <a href={`#/jobs/${job.parentJobId}`}>{job.parentJobId}</a>
              </dd>
            </>
          )}
          <dt>prompt</dt>
          <dd>{job.prompt || <span class="muted">(none)</span>}</dd>
        </dl>
        {(job.status === 'running' || job.progress > 0) && (
          <div class="progress-line">
            <Bar value={job.progress} label="progress" />
            <span class="muted">{job.progressMessage}</span>
          </div>
        )}
        {job.error && (
          <div class="error" role="status">
            {job.status === 'succeeded' && <strong>An earlier attempt failed, and was recovered from: </strong>}
            {job.error.failureType && <strong>{words(job.error.failureType)}: </strong>}
            {job.error.message}
          </div>
        )}
      </Panel>
      {job.output && (
        <Panel title="Output" actions={job.output.isPreview ? <PreviewLabel /> : undefined}>
          <Output job={job} />
        </Panel>
      )}
      <Panel title="Plan">
        <PlanDetails plan={job.plan} />
      </Panel>
      <Panel title="Timeline">
        <ol class="timeline" data-testid="timeline">
          {job.timeline
            .filter((e) => e.kind !== 'progress')
            .map((e, i) => (
              <li key={i} data-kind={e.kind}>
                <time>{formatTime(e.at)}</time>
                <Badge value={e.kind} tone={timelineTone(e.kind)} />
                <span>{e.message}</span>
              </li>
            ))}
        </ol>
      </Panel>
    </div>
  );
}

function timelineTone(kind: string): string {
  if (kind === 'succeeded') return 'good';
  if (kind === 'failed' || kind === 'expired') return 'bad';
  if (kind === 'recovery_attempt' || kind === 'replanned' || kind === 'requeued') return 'busy';
  return 'plain';
}

/** The output, fetched with the token and played inline: a video element for video, an image for animated images. */
function Output({ job }: { job: JobView }) {
  const output = job.output!;
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let objectUrl: string | null = null;
    let cancelled = false;
    send(output.url)
      .then((r) => r.blob())
      .then((blob) => {
        if (cancelled) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
      }, setError);
    return () => {
      cancelled = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [output.url]);
  const label = `${output.mediaType}, ${formatBytes(output.sizeBytes)}${output.isPreview ? ', a labelled preview, not a real generation' : ''}`;
  return (
    <figure class={`output${output.isPreview ? ' is-preview' : ''}`} data-testid="output">
      {error ? <ErrorNote error={error} /> : null}
      {url &&
        (output.mediaType.startsWith('video/') ? (
          <video src={url} autoplay loop muted controls playsInline aria-label={label} />
        ) : (
          <img src={url} alt={label} />
        ))}
      <figcaption>
        {output.isPreview && <PreviewLabel />} {label}
      </figcaption>
    </figure>
  );
}
