/**
 * `GET /v1/events` (WebSocket): the engine's typed events as JSON text messages, one event per message, `type`
 * first and its `eventId` last. `?jobId=a,b` (or repeated) keeps the events of those jobs, recovery attempts made for
 * them included; `?modelId=...` keeps the events of those models (status, downloads, loads). Given both, an event
 * passes when it matches either. `?since=<eventId>` resumes: the kept events after it first, in order and each once,
 * then live ones; when some are lost, an `events.gap` message comes first instead. A client that stops reading is
 * disconnected (close code 1013) rather than buffered without end.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { EVENT_ID_FORMAT, parseEventId } from '../../core/event-ids.js';
import { parseOrThrow } from '../../core/validation.js';
import type { UnderstudyEvent } from '../../runtime/engine-events.js';
import type { Understudy } from '../../runtime/understudy.js';

/** Most bytes queued for one client before it is disconnected as too slow. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const IdList = z.union([z.string(), z.array(z.string())]).optional();

/** Query of the events stream. */
export const EventsQuerySchema = z.strictObject({
  jobId: IdList.describe('Events of these jobs: one id, a comma-separated list, or the parameter repeated'),
  modelId: IdList.describe('Events of these models (model.*, download.progress, recovery for the model)'),
  since: z
    .string()
    .refine((id) => parseEventId(id) !== undefined, { message: `expected an event id: ${EVENT_ID_FORMAT}` })
    .optional()
    .describe('Resume after this eventId: the kept events after it first (or an events.gap message), then live ones'),
});

/** The message sent first when events after `since` are lost: the client re-reads state through the REST API. */
export interface EventsGapMessage {
  type: 'events.gap';
  since: string;
  reason: string;
  message: string;
}

/** Registers the events WebSocket (the websocket plugin must be registered first). */
export function installEventsWebSocket(app: FastifyInstance, understudy: Understudy): void {
  app.get('/v1/events', {
    websocket: true,
    // Validate before the upgrade, so a bad filter gets a 400 rather than a socket.
    preValidation: async (request) => {
      parseOrThrow(EventsQuerySchema, request.query ?? {}, 'query string');
    },
  }, (socket, request) => {
    const query = EventsQuerySchema.parse(request.query ?? {});
    const jobs = idSet(query.jobId);
    const models = idSet(query.modelId);
    const filtered = jobs.size > 0 || models.size > 0;
    const { since } = query;
    const follow = understudy.followEvents({
      ...(since !== undefined ? { since } : {}),
      deliver: ({ id, event }) => {
        if (filtered && !jobs.has(jobIdOf(event) ?? '') && !models.has(modelIdOf(event) ?? '')) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          follow.stop();
          socket.close(1013, 'client too slow: events dropped');
          return;
        }
        socket.send(JSON.stringify({ ...event, eventId: id }));
      },
      gap: (reason) => {
        const gap: EventsGapMessage = { type: 'events.gap', since: since ?? '', reason, message: 'events after since are lost: re-read state through the REST API; live events follow' };
        socket.send(JSON.stringify(gap));
      },
    });
    follow.ready.catch(() => socket.close(1011, 'the kept events could not be read (the store is unavailable): reconnect later'));
    socket.on('close', () => follow.stop());
  });
}

function idSet(value: string | string[] | undefined): Set<string> {
  return new Set([value ?? []].flat().flatMap((v) => v.split(',')).filter(Boolean));
}

/** The job an event is about, if any. */
function jobIdOf(event: UnderstudyEvent): string | undefined {
  if ('jobId' in event) return event.jobId;
  if (event.type === 'recovery_attempt') return event.attempt.context.jobId;
  return undefined;
}

/** The model an event is about, if it is about a model rather than a job. */
function modelIdOf(event: UnderstudyEvent): string | undefined {
  if ('modelId' in event) return event.modelId;
  if (event.type === 'recovery_attempt') return event.attempt.context.modelId;
  return undefined;
}
