/** Follows one model's download over the events WebSocket: a progress bar with percent, speed and ETA. */
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import type { ApiClient } from './client.js';
import { CliError, ExitCode } from './exit-codes.js';
import { formatBytes, formatSeconds } from './format.js';
import type { StatusLine } from './progress-bar.js';

/** Starts (or joins) the download of `modelId` and resolves once the model is available; rejects when it fails. */
export async function followDownload(client: ApiClient, modelId: string, status: StatusLine): Promise<void> {
  const socket = await client.openEvents(new URLSearchParams({ modelId }));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const event = JSON.parse(data.toString('utf8')) as UnderstudyEvent;
        if (event.type === 'download.progress' && event.modelId === modelId) {
          const fraction = event.bytesTotal > 0 ? event.bytesDone / event.bytesTotal : 0;
          const eta = event.etaSeconds === null ? '' : `, ETA ${formatSeconds(event.etaSeconds)}`;
          status.progress(fraction, `${formatBytes(event.bytesDone)} of ${formatBytes(event.bytesTotal)} at ${formatBytes(event.bytesPerSecond)}/s${eta}`);
        }
        if (event.type === 'download.placed' && event.modelId === modelId) status.log(event.message);
        if (event.type === 'model.status' && event.modelId === modelId) {
          if (event.status === 'available') resolve();
          if (event.status === 'failed') reject(new CliError(ExitCode.jobFailed, `the download of ${modelId} failed; see the server log or understudy models`));
        }
      });
      socket.once('close', () => reject(new CliError(ExitCode.unreachable, 'the server closed the events stream')));
      void client.request<{ status: string }>('POST', `/v1/models/${encodeURIComponent(modelId)}/download`).then((answer) => {
        if (answer.status === 'available') resolve();
      }, reject);
    });
  } finally {
    socket.removeAllListeners('close');
    socket.close();
    status.done();
  }
}
