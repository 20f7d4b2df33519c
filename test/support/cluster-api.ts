/**
 * The HTTP API of a gateway process as the cluster tests use it (submit, read, wait for the end of a generation),
 * the environment every process of such a test shares, and readers of a job's timeline (who started each attempt).
 */
import assert from 'node:assert/strict';
import { waitUntil } from '../http/support.js';
import type { Child, ProcessGroup } from './processes.js';

/** A generation as GET /v1/generations/:id answers it (the fields the tests read). */
export interface JobBody {
  id: string;
  status: string;
  attempts: number;
  progress: number;
  modelUsed: string;
  output: { url: string; sizeBytes: number } | null;
  timeline: Array<{ at: number; kind: string; message: string; data?: Record<string, unknown> }>;
}

/** The states a generation ends in. */
export const FINAL_STATES = ['succeeded', 'failed', 'cancelled', 'expired'];

/** The HTTP API of one gateway at `url`. */
export function gatewayApi(url: string) {
  const request = async <T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: T; headers: Headers }> => {
    const { json, ...rest } = init;
    const response = await fetch(`${url}${path}`, {
      ...rest,
      ...(json !== undefined ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json' } } : {}),
    });
    return { status: response.status, body: (await response.json()) as T, headers: response.headers };
  };
  const job = async (id: string): Promise<JobBody> => (await request<JobBody>(`/v1/generations/${id}`)).body;
  return {
    url,
    request,
    job,
    /** POSTs a generation; asserts it was accepted (202) and resolves with its id. */
    submit: async (body: Record<string, unknown>): Promise<string> => {
      const { status, body: accepted } = await request<{ id: string }>('/v1/generations', { method: 'POST', json: body });
      assert.equal(status, 202, JSON.stringify(accepted));
      return accepted.id;
    },
    /** Resolves with the generation once it has ended, polling every 20 ms for up to `ms`. */
    final: (id: string, ms = 60_000): Promise<JobBody> =>
      waitUntil(async () => {
        const current = await job(id);
        return FINAL_STATES.includes(current.status) ? current : undefined;
      }, ms, `generation ${id} to finish`),
    /** A model's status as GET /v1/models answers it (the gateway's view of the live workers). */
    modelStatus: async (modelId: string): Promise<string | undefined> =>
      (await request<Array<{ id: string; status: string }>>('/v1/models')).body.find((m) => m.id === modelId)?.status,
    /** How many workers /v1/workers lists. */
    workers: async (): Promise<number> => (await request<{ workers: unknown[] }>('/v1/workers')).body.workers.length,
  };
}

export type GatewayApi = ReturnType<typeof gatewayApi>;

/** Starts a gateway process without a worker (`serve --store <url> --no-worker`) in its own data dir; resolves with its API. */
export async function startGatewayOnly(group: ProcessGroup, storeUrl: string, env: Record<string, string>, name = 'gateway'): Promise<GatewayApi> {
  return gatewayApi((await group.gateway(name, ['--store', storeUrl, '--no-worker', '--data-dir', await group.tempDir(name)], env)).url);
}

/** Starts `worker --store <url> --id <id>` in its own data dir; resolves once it runs. */
export async function startWorker(group: ProcessGroup, storeUrl: string, id: string, env: Record<string, string>): Promise<Child> {
  return group.worker(id, ['--store', storeUrl, '--id', id, '--data-dir', await group.tempDir(id)], env);
}

/** Settings shared by every process of a test: one artifacts directory (a shared mount), no health checks, short ticks. */
export async function clusterEnv(group: ProcessGroup, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    UNDERSTUDY_HEALTH_INTERVAL_SECONDS: '0',
    UNDERSTUDY_ARTIFACTS_DIR: await group.tempDir('artifacts'),
    UNDERSTUDY_SHUTDOWN_GRACE_SECONDS: '1',
    UNDERSTUDY_SCHEDULING_TICK_MS: '200',
    // The tests poll the API far more often than a client would.
    UNDERSTUDY_RATE_LIMIT_MAX: '0',
    ...extra,
  };
}

/** The worker ids that started each attempt of a job, in order (from "started by <worker>/<backend>" entries). */
export function startedBy(job: JobBody): string[] {
  return job.timeline.filter((e) => e.kind === 'started').map((e) => /started by ([^/\s]+)\//.exec(e.message)?.[1] ?? `unparsed: ${e.message}`);
}

/** The timeline's kinds, for assertion messages. */
export function describeTimeline(job: JobBody): string {
  return `${job.id} ${job.status}: ${job.timeline.map((e) => `${e.kind}: ${e.message}`).join(' | ')}`;
}
