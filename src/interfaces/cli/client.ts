/** The CLI's only way to the engine: the HTTP API and the events WebSocket. */
import WebSocket from 'ws';
import { CliError, ExitCode, exitCodeForStatus } from './exit-codes.js';

/** An API error body, as the server sends it. */
interface ErrorBody {
  error?: { code?: string; message?: string; details?: Array<{ field: string; problem: string }> };
}

/** A client of one server. */
export class ApiClient {
  constructor(
    /** Base URL, e.g. `http://127.0.0.1:8080`. */
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  /** Sends a request and returns the parsed JSON body; throws a CliError with the matching exit code otherwise. */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(path, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    return (await response.json()) as T;
  }

  /** Fetches `path` and returns the response when it is a success; throws a CliError otherwise. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), { ...init, headers });
    } catch (error) {
      throw unreachable(this.baseUrl, error);
    }
    if (response.ok) return response;
    const text = await response.text();
    let parsed: ErrorBody | undefined;
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      parsed = undefined;
    }
    const message = parsed?.error?.message ?? (text || response.statusText);
    const details = (parsed?.error?.details ?? []).map((d) => `${d.field}: ${d.problem}`);
    const retry = response.headers.get('retry-after');
    throw new CliError(
      exitCodeForStatus(response.status),
      `${response.status} ${parsed?.error?.code ?? response.statusText}: ${message}${retry ? ` (retry after ${retry} s)` : ''}`,
      details,
      parsed ?? text,
    );
  }

  /** Opens the events WebSocket with `query`; resolves once it is open (events from then on are received). */
  openEvents(query: URLSearchParams): Promise<WebSocket> {
    const url = new URL(`/v1/events?${query.toString()}`, this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {} });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('unexpected-response', (_request, response) => {
        socket.terminate();
        const status = response.statusCode ?? 500;
        reject(new CliError(exitCodeForStatus(status), `${status}: the server refused the events stream`));
      });
      socket.once('error', (error) => reject(unreachable(this.baseUrl, error)));
    });
  }
}

function unreachable(url: string, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new CliError(ExitCode.unreachable, `cannot reach the Understudy server at ${url} (${reason}); is \`understudy serve\` running? Set --url or UNDERSTUDY_URL`);
}
