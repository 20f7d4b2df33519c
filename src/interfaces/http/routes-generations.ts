/** `/v1/generations`: submit, list, read, cancel, and download the output. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { z } from 'zod';
import type { GenerationInputDraft, generationInputSchema } from '../../runtime/generation-input.js';
import type { Understudy } from '../../runtime/understudy.js';
import { ApiError } from './errors.js';
import { foldRequestAliases, withRequestAliases } from './field-aliases.js';
import { defineRoute, type ApiRoute } from './route.js';
import {
  AcceptedSchema,
  ErrorBodySchema,
  JobIdParamsSchema,
  JobPageSchema,
  JobViewSchema,
  ListGenerationsQuerySchema,
  type Accepted,
  type JobPageView,
  type JobView,
} from './schemas.js';
import { jobView, planView } from './views.js';

const error = (description: string) => ({ description, schema: ErrorBodySchema });

/**
 * The generation routes; `inputSchema` is the schema the engine validates submissions with (documented here with the
 * deprecated request names the route accepts beside it).
 */
export function generationRoutes(understudy: Understudy, inputSchema: ReturnType<typeof generationInputSchema>): ApiRoute[] {
  const requireJob = async (id: string) => {
    const job = await understudy.get(id);
    if (!job) throw new ApiError(404, 'not_found', `no generation ${id}`);
    return job;
  };
  return [
    defineRoute<undefined, undefined, GenerationInputDraft>({
      method: 'POST',
      url: '/v1/generations',
      tag: 'generations',
      summary: 'Submit a generation',
      description:
        'Plans the request (run as asked, an alternative model, wait for a download, reduced settings, a labelled preview), ' +
        'stores the job durably, then answers 202 with the plan and its reasons.',
      body: withRequestAliases(inputSchema),
      validateBody: false,
      responses: {
        202: { description: 'Accepted, with the plan', schema: AcceptedSchema, headers: { location: 'URL of the generation' } },
        400: error('Invalid input; details name each field, what is allowed and the value received'),
        401: error('Missing or wrong bearer token'),
        422: error('No plan the request allows can deliver; `plan` lists every option and why it lost'),
        429: error('Queue full (code queue_full) or too many requests (rate_limited); see Retry-After'),
        503: error('The service is shutting down (shutting_down); see Retry-After'),
      },
      handler: async ({ body, reply }) => {
        const draft = foldRequestAliases(body ?? {}, 'request') as GenerationInputDraft;
        const { job, hybridJob, queuePosition, estimate } = await understudy.submit(draft);
        const accepted: Accepted = {
          id: job.id,
          status: job.status,
          plan: planView(job.plan),
          queuePosition,
          ...(hybridJob ? { alternativeId: hybridJob.id } : {}),
          ...(estimate ? { estimate } : {}),
        };
        return reply.code(202).header('location', `/v1/generations/${encodeURIComponent(job.id)}`).send(accepted);
      },
    }),
    defineRoute<undefined, z.output<typeof ListGenerationsQuerySchema>>({
      method: 'GET',
      url: '/v1/generations',
      tag: 'generations',
      summary: 'List generations, oldest first, a page at a time',
      query: ListGenerationsQuerySchema,
      responses: { 200: { description: 'A page of generations', schema: JobPageSchema }, 400: error('Bad filter') },
      handler: async ({ query }) => {
        const [{ jobs, nextCursor }, counts] = await Promise.all([understudy.list(query), understudy.jobCounts()]);
        const total = query.status ? counts[query.status] : Object.values(counts).reduce((a, b) => a + b, 0);
        const page: JobPageView = { generations: jobs.map((j) => jobView(j, understudy.estimateOf(j.id))), total, nextCursor };
        return page;
      },
    }),
    defineRoute<z.output<typeof JobIdParamsSchema>>({
      method: 'GET',
      url: '/v1/generations/:id',
      tag: 'generations',
      summary: 'A generation: status, plan, attempts, progress, output and timeline',
      params: JobIdParamsSchema,
      responses: { 200: { description: 'The generation', schema: JobViewSchema }, 404: error('No such generation') },
      handler: async ({ params }): Promise<JobView> => jobView(await requireJob(params.id), understudy.estimateOf(params.id)),
    }),
    defineRoute<z.output<typeof JobIdParamsSchema>>({
      method: 'DELETE',
      url: '/v1/generations/:id',
      tag: 'generations',
      summary: 'Cancel a generation',
      description: 'A waiting job is cancelled at once; a running one stops at its next progress report.',
      params: JobIdParamsSchema,
      responses: {
        200: { description: 'The cancelled generation', schema: JobViewSchema },
        404: error('No such generation'),
        409: error('The generation has already finished'),
      },
      handler: async ({ params }): Promise<JobView> => jobView(await understudy.cancel(params.id)),
    }),
    defineRoute<z.output<typeof JobIdParamsSchema>>({
      method: 'GET',
      url: '/v1/generations/:id/output',
      tag: 'generations',
      summary: 'The output file, with its content type',
      description: 'A preview carries the header `x-understudy-preview: true`.',
      params: JobIdParamsSchema,
      responses: {
        200: { description: 'The file', contentType: 'application/octet-stream', headers: { 'x-understudy-preview': 'true for a labelled preview' } },
        404: error('No such generation, or its file is gone'),
        409: error('The generation has no output (yet)'),
      },
      handler: async ({ params, reply }) => {
        const job = await requireJob(params.id);
        if (!job.output) {
          throw new ApiError(409, 'no_output', `generation ${job.id} is ${job.status} and has no output`, undefined, { status: job.status });
        }
        const { mediaType, isPreview } = job.output;
        const path = understudy.outputPath(job.output);
        const size = await stat(path).then((s) => s.size, () => null);
        if (size === null) throw new ApiError(404, 'output_missing', `the output file of generation ${job.id} is no longer on disk`);
        return reply
          .type(mediaType)
          .header('content-length', size)
          .header('content-disposition', `inline; filename="${basename(path)}"`)
          .header('x-understudy-preview', String(isPreview))
          .send(createReadStream(path));
      },
    }),
  ];
}
