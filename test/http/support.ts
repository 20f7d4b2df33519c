/** Helpers of the HTTP contract tests: a real service on 127.0.0.1 in a temp data dir, and bounded waits. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SystemClock } from '../../src/adapters/system-clock.js';
import { ServiceConfigSchema } from '../../src/interfaces/config.js';
import { startService, type RunningService } from '../../src/interfaces/http/service.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';

/** A running service and how to reach and stop it. */
export interface TestService extends RunningService {
  dataDir: string;
  /** `fetch` on the service; `token` is sent when given. */
  request(path: string, init?: RequestInit & { json?: unknown; token?: string }): Promise<Response>;
  /** Stops the service and removes its data dir. */
  close(): Promise<void>;
}


/** Starts the real service on 127.0.0.1, port 0, in a fresh temp data dir; `overrides` are config keys. */
export async function startTestService(overrides: Record<string, unknown> = {}): Promise<TestService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-http-'));
  const config = ServiceConfigSchema.parse({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    logLevel: 'silent',
    healthIntervalSeconds: 0,
    shutdownGraceSeconds: 5,
    rateLimit: { max: 0 },
    scheduling: { tickMs: 50 },
    // The planner believes the reference 50 MiB/s, whatever the simulated speed: tests script slow downloads
    // to keep jobs waiting, yet want the plans a normal download speed gives.
    planner: { estimation: { downloadBytesPerSecond: 50 * 1024 ** 2 } },
    ...overrides,
    simulated: { timeScale: 0.002, ...(overrides.simulated as object | undefined) },
  });
  // Disposed on close: the simulated GPU's downloads keep their timer after the engine closes, which would keep
  // the test process alive for as long as a slow download lasts.
  const clock = new SystemClock();
  const service = await startService(config, { clock });
  return {
    ...service,
    dataDir,
    request: (path, init = {}) => {
      const { json, token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${service.url}${path}`, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    },
    close: async () => {
      await service.stop();
      clock.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Opens `/v1/events` with `query`; resolves once open, collecting every event received. */
export async function openEvents(url: string, query = '', token?: string): Promise<EventStream> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/events${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  // Listening before the socket opens: a message sent at once (a replay, a gap) can arrive with the upgrade.
  const stream = new EventStream(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return stream;
}

/** Opens `/v1/events` with `query` expecting a refusal; resolves with the HTTP status and JSON body of the refusal. */
export async function refusedEvents(url: string, query: string): Promise<{ status: number; body: unknown }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/events${query}`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      reject(new Error(`the events socket opened with ${query}`));
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
    });
    ws.once('error', reject);
  });
}

/** Events received on a socket, and a bounded wait for the one a test needs. */
export class EventStream {
  readonly events: UnderstudyEvent[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.events.push(JSON.parse(data.toString('utf8')) as UnderstudyEvent);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** The first event matching `predicate`, waiting at most `timeoutMs`. */
  async waitFor(predicate: (event: UnderstudyEvent) => boolean, timeoutMs = 10_000): Promise<UnderstudyEvent> {
    return waitUntil(async () => this.events.find(predicate), timeoutMs, 'event', (wake) => this.waiters.push(wake));
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Resolves with the first truthy value of `check`, asked again whenever `subscribe`'s wake-up fires (or every 20 ms
 * when there is none); rejects after `timeoutMs`.
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  what: string,
  subscribe?: (wake: () => void) => void,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, subscribe ? left : Math.min(20, left));
      subscribe?.(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Waits until the generation reaches a final state; resolves with its JSON. */
export async function waitForFinal(service: TestService, id: string, token?: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return waitUntil(
    async () => {
      const body = (await (await service.request(`/v1/generations/${id}`, { ...(token ? { token } : {}) })).json()) as Record<string, unknown>;
      return ['succeeded', 'failed', 'cancelled', 'expired'].includes(body.status as string) ? body : undefined;
    },
    timeoutMs,
    `generation ${id} to finish`,
  );
}
