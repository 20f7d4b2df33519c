/**
 * Follows generations over the events WebSocket until each has finished: progress on the status line, every other
 * step (start, recovery, re-plan, download) as a line above it. The stream is opened before the jobs are read, so
 * no step is missed between the two.
 */
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import { TERMINAL_JOB_STATES, type JobState } from '../../runtime/job.js';
import type { JobView } from '../http/schemas.js';
import type { ApiClient } from './client.js';
import { CliError, ExitCode } from './exit-codes.js';
import { formatBytes } from './format.js';
import type { StatusLine } from './progress-bar.js';

const isTerminal = (status: JobState): boolean => (TERMINAL_JOB_STATES as readonly JobState[]).includes(status);

/** Follows `jobIds` (and the downloads of `modelId`) until every job has finished; resolves with their final views. */
export async function followJobs(client: ApiClient, jobIds: readonly string[], modelId: string, status: StatusLine): Promise<JobView[]> {
  const query = new URLSearchParams();
  for (const id of jobIds) query.append('jobId', id);
  query.append('modelId', modelId);
  const socket = await client.openEvents(query);
  const pending = new Set(jobIds);
  const short = (id: string): string => (jobIds.length > 1 ? `[${id.slice(0, 8)}] ` : '');
  try {
    await new Promise<void>((resolve, reject) => {
      const settle = (id: string): void => {
        pending.delete(id);
        if (pending.size === 0) resolve();
      };
      socket.on('message', (data: Buffer) => {
        const event = JSON.parse(data.toString('utf8')) as UnderstudyEvent;
        describeEvent(event, short, status);
        if ('status' in event && 'jobId' in event && isTerminal(event.status as JobState)) settle(event.jobId);
      });
      socket.once('close', () =>
        reject(new CliError(ExitCode.unreachable, `the server closed the events stream (shutting down?); the generation goes on: understudy job ${jobIds[0]}`)),
      );
      // Jobs that finished before the stream opened send no more events: read them once the stream is open.
      void Promise.all(jobIds.map((id) => client.request<JobView>('GET', `/v1/generations/${encodeURIComponent(id)}`))).then(
        (views) => views.filter((v) => isTerminal(v.status)).forEach((v) => settle(v.id)),
        reject,
      );
    });
  } finally {
    socket.removeAllListeners('close');
    socket.close();
    status.done();
  }
  return Promise.all(jobIds.map((id) => client.request<JobView>('GET', `/v1/generations/${encodeURIComponent(id)}`)));
}

function describeEvent(event: UnderstudyEvent, short: (id: string) => string, status: StatusLine): void {
  switch (event.type) {
    case 'job.progress':
      status.progress(event.progress, `${short(event.jobId)}${event.message}`);
      return;
    case 'download.progress':
      status.progress(
        event.bytesTotal > 0 ? event.bytesDone / event.bytesTotal : 0,
        `downloading ${event.modelId}: ${formatBytes(event.bytesDone)} of ${formatBytes(event.bytesTotal)}`,
      );
      return;
    case 'recovery_attempt': {
      const a = event.attempt;
      status.log(`recovery: ${a.action} for ${a.failureType} ${a.success ? 'succeeded' : `failed${a.errorMessage ? `: ${a.errorMessage}` : ''}`}`);
      return;
    }
    case 'job.replanned':
      status.log(`${short(event.jobId)}re-planned: ${event.strategy} on ${event.model}: ${event.message}`);
      return;
    case 'model.status':
      status.log(`${event.modelId} is ${event.status}`);
      return;
    case 'download.placed':
      status.log(event.message);
      return;
    case 'model.loaded':
    case 'model.unloaded':
      status.log(`${event.modelId} ${event.type === 'model.loaded' ? 'loaded' : 'unloaded'} (${event.detail})`);
      return;
    case 'health_status':
    case 'system_status':
      return;
    default:
      status.log(`${short(event.jobId)}${event.type.slice(4)}: ${event.message}`);
  }
}
