/** `/v1/models` and `/v1/fallback-strategy`: the catalog, stand-ins, waits, and plans on demand. */
import type { z } from 'zod';
import type { ModelStatus } from '../../core/availability.js';
import type { ModelDescriptor } from '../../core/catalog.js';
import { ValidationError } from '../../core/validation.js';
import type { Understudy } from '../../runtime/understudy.js';
import { ApiError } from './errors.js';
import { defineRoute, type ApiRoute } from './route.js';
import { AlternativesViewSchema, FallbackStrategyViewSchema, WaitTimeViewSchema } from './record-schemas.js';
import {
  AlternativesQuerySchema,
  ErrorBodySchema,
  FallbackStrategyBodySchema,
  ModelIdParamsSchema,
  ModelViewSchema,
  RecordSchema,
  type ModelView,
} from './schemas.js';
import { fallbackStrategyView, waitTimeView } from './views.js';

/** Statuses in which files are on their way. */
const IN_TRANSFER: ReadonlySet<string> = new Set(['downloading', 'paused', 'verifying', 'partial']);

const error = (description: string) => ({ description, schema: ErrorBodySchema });

type ModelParams = z.output<typeof ModelIdParamsSchema>;

/** The model routes. */
export function modelRoutes(understudy: Understudy): ApiRoute[] {
  const { manager } = understudy;
  const requireModel = (id: string): void => {
    if (!manager.catalog.byId.has(id)) {
      throw new ApiError(404, 'model_not_found', `no model ${id}; known models: ${[...manager.catalog.byId.keys()].join(', ')}`);
    }
  };
  return [
    defineRoute({
      method: 'GET',
      url: '/v1/models',
      tag: 'models',
      summary: 'The catalog, with availability and download progress',
      responses: { 200: { description: 'Every model', schema: ModelViewSchema.array() } },
      handler: async (): Promise<ModelView[]> => (await understudy.models()).map(({ model, status }) => modelView(model, status)),
    }),
    defineRoute<ModelParams, z.output<typeof AlternativesQuerySchema>>({
      method: 'GET',
      url: '/v1/models/:id/alternatives',
      tag: 'models',
      summary: 'Stand-ins for a model, best first, with the models ruled out and why',
      params: ModelIdParamsSchema,
      query: AlternativesQuerySchema,
      responses: {
        200: { description: 'Ranked ModelSuggestions and the models ruled out, with why', schema: AlternativesViewSchema },
        400: error('Bad requirements'),
        404: error('No such model'),
      },
      handler: async ({ params, query }) => {
        requireModel(params.id);
        const { image, ...rest } = query;
        return manager.rankAlternatives(params.id, { ...rest, ...(image !== undefined ? { hasImage: image } : {}) });
      },
    }),
    defineRoute<ModelParams>({
      method: 'POST',
      url: '/v1/models/:id/download',
      tag: 'models',
      summary: 'Starts (or joins) the download of a model; progress goes out as download.progress and model.status events',
      params: ModelIdParamsSchema,
      responses: {
        202: { description: '{ modelId, status }: the download is under way, or the model is already available', schema: RecordSchema },
        404: error('No such model'),
      },
      handler: async ({ params, reply }) => {
        requireModel(params.id);
        const before = (await understudy.models()).find((m) => m.model.id === params.id)!.status;
        if (before.status !== 'available') understudy.downloadModel(params.id).catch(() => undefined);
        return reply.code(202).send({ modelId: params.id, status: before.status === 'available' ? 'available' : 'downloading' });
      },
    }),
    defineRoute<ModelParams>({
      method: 'POST',
      url: '/v1/models/:id/verify',
      tag: 'models',
      summary: 'Checks every file of a model by sha256 (models whose files Understudy manages)',
      params: ModelIdParamsSchema,
      responses: {
        200: { description: '{ status: ModelStatus, files: [{ path, status, bytesPresent, bytesTotal, verified, detail? }] }', schema: RecordSchema },
        400: error('The backend manages this model\'s files'),
        404: error('No such model'),
      },
      handler: async ({ params }) => {
        requireModel(params.id);
        return understudy.verifyModel(params.id);
      },
    }),
    defineRoute<ModelParams>({
      method: 'GET',
      url: '/v1/models/:id/wait-time',
      tag: 'models',
      summary: 'How long until the model can serve a new request',
      params: ModelIdParamsSchema,
      responses: {
        200: { description: 'An EstimatedWaitTime', schema: WaitTimeViewSchema },
        404: error('No such model'),
      },
      handler: async ({ params }) => {
        requireModel(params.id);
        return waitTimeView(await manager.estimateWaitTime(params.id));
      },
    }),
    defineRoute<undefined, undefined, z.output<typeof FallbackStrategyBodySchema>>({
      method: 'POST',
      url: '/v1/fallback-strategy',
      tag: 'models',
      summary: 'The plan the engine would make now, without submitting anything',
      body: FallbackStrategyBodySchema,
      responses: {
        200: { description: 'A FallbackStrategy', schema: FallbackStrategyViewSchema },
        400: error('Invalid input, or an unknown model'),
      },
      handler: async ({ body }) => {
        if (!manager.catalog.byId.has(body.model)) {
          const known = [...manager.catalog.byId.keys()];
          throw new ValidationError('request body', [{ field: 'model', problem: `expected one of ${known.join(', ')}`, received: body.model }]);
        }
        const strategy = await manager.getFallbackStrategy(body.model, {
          requirements: body.requirements,
          ...(body.failureType ? { failureType: body.failureType } : {}),
          ...(body.errorMessage ? { errorMessage: body.errorMessage } : {}),
        });
        return fallbackStrategyView(strategy);
      },
    }),
  ];
}

function modelView(model: ModelDescriptor, status: ModelStatus): ModelView {
  const present = status.bytesPresent ?? 0;
  const partial = status.status !== 'available' && status.bytesTotal !== undefined && status.bytesTotal > 0 && (present > 0 || IN_TRANSFER.has(status.status));
  return {
    id: model.id,
    name: model.name ?? model.id,
    inputs: model.inputs,
    capabilities: model.capabilities,
    qualityRank: model.qualityRank,
    baseVramGb: model.baseVramGb,
    sizeGb: model.sizeGb,
    baseSeconds: model.baseSeconds,
    status: status.status,
    detail: status.detail ?? null,
    download: partial
      ? {
          bytesDone: present,
          bytesTotal: status.bytesTotal!,
          progress: present / status.bytesTotal!,
          bytesPerSecond: status.downloadBytesPerSecond ?? null,
        }
      : null,
  };
}
