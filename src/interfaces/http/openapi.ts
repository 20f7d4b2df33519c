/**
 * The OpenAPI 3.1 document (`/openapi.json`) and a docs page (`/docs`), generated from the route declarations and
 * the zod schemas that validate requests, so the documentation cannot drift from what the server accepts.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { EventsQuerySchema } from './events-websocket.js';
import type { ApiRoute } from './route.js';
import { API_VERSION } from './record-schemas.js';
import { ErrorBodySchema } from './schemas.js';

type JsonSchema = Record<string, unknown>;

/** Options of the document. */
export interface OpenApiOptions {
  /** Whether a bearer token is required. */
  secured: boolean;
}

/** Builds the OpenAPI 3.1 document of `routes`, the events WebSocket included. */
export function buildOpenApiDocument(routes: readonly ApiRoute[], options: OpenApiOptions): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const open = route.tag === 'probes';
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      operationId: operationId(route.method, route.url),
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(route.body, 'input') } } } } : {}),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, spec]) => [
          status,
          {
            description: spec.description,
            ...(spec.headers ? { headers: Object.fromEntries(Object.entries(spec.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) } : {}),
            content: spec.schema
              ? { 'application/json': { schema: toSchema(spec.schema, 'output') } }
              : { [spec.contentType ?? 'application/octet-stream']: { schema: { type: 'string', format: 'binary' } } },
          },
        ]),
      ),
      ...(open || !options.secured ? { security: [] } : {}),
    };
  }
  paths['/v1/events'] = {
    get: {
      tags: ['events'],
      summary: 'WebSocket: the typed event stream',
      description:
        'Upgrade to a WebSocket. Each message is one JSON event with `type` first: job.accepted, job.started, job.progress, ' +
        'job.replanned, job.succeeded, job.failed, job.cancelled, job.expired, job.requeued, job.waiting, job.released, ' +
        'model.status, model.loaded, model.unloaded, download.progress, recovery_attempt, health_status, system_status.',
      operationId: 'streamEvents',
      parameters: parameters(EventsQuerySchema, 'query'),
      responses: { 101: { description: 'Switching to the WebSocket protocol' }, 400: { description: 'Bad filter', content: { 'application/json': { schema: toSchema(ErrorBodySchema, 'output') } } } },
    },
  };
  paths['/metrics'] = {
    get: { tags: ['system'], summary: 'Prometheus metrics', operationId: 'metrics', responses: { 200: { description: 'Text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Understudy',
      version: API_VERSION,
      description: 'Plans around missing models, out-of-memory GPUs, crashed pipelines and unreachable backends, and says why.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: options.secured ? [{ bearer: [] }] : [],
    paths,
  };
}

/** Serves the document at `/openapi.json` and the docs page at `/docs`. */
export function installOpenApi(app: FastifyInstance, document: JsonSchema): void {
  const json = JSON.stringify(document);
  const html = renderDocsPage(document);
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(json));
  app.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(html));
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (json.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

function operationId(method: string, url: string): string {
  const words = url
    .split('/')
    .filter((p) => p && p !== 'v1')
    .map((p) => (p.startsWith(':') ? 'by-' + p.slice(1) : p))
    .join('-')
    .split(/[-_]/);
  return method.toLowerCase() + words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

interface Operation {
  summary?: string;
  description?: string;
  parameters?: Array<{ name: string; in: string; required: boolean; description?: string; schema: JsonSchema }>;
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { description: string }>;
}

/** A self-contained HTML page: every operation with its parameters, body schema and responses. No scripts. */
function renderDocsPage(document: JsonSchema): string {
  const info = document.info as { title: string; version: string; description: string };
  const paths = document.paths as Record<string, Record<string, Operation>>;
  const sections = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const params = (op.parameters ?? [])
        .map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${p.in}${p.required ? ', required' : ''}</td><td><code>${esc(JSON.stringify(p.schema))}</code></td><td>${esc(p.description ?? '')}</td></tr>`)
        .join('');
      const body = op.requestBody ? `<h4>Body</h4><pre>${esc(JSON.stringify(Object.values(op.requestBody.content)[0]?.schema, null, 2))}</pre>` : '';
      const responses = Object.entries(op.responses)
        .map(([status, r]) => `<li><b>${status}</b> ${esc(r.description)}</li>`)
        .join('');
      return (
        `<section><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>` +
        `<p>${esc(op.summary ?? '')}${op.description ? `<br>${esc(op.description)}` : ''}</p>` +
        (params ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>schema</th><th></th></tr>${params}</table>` : '') +
        `${body}<h4>Responses</h4><ul>${responses}</ul></section>`
      );
    }),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(info.title)} API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
section{border-top:1px solid #ddd;padding:.5em 0}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:13px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;font-size:13px;vertical-align:top}
.m{display:inline-block;min-width:4.5em;color:#fff;border-radius:3px;text-align:center;font-size:13px;padding:0 .3em}
.get{background:#2b7bb9}.post{background:#2f9e44}.delete{background:#c92a2a}</style></head>
<body><h1>${esc(info.title)} API <small>${esc(info.version)}</small></h1><p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
${sections.join('\n')}
</body></html>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
