/** Calls to the API: the token as a bearer header, and every failure as an {@link ApiRequestError} with the server's words. */
import type { ErrorBody, ErrorDetail } from './types.js';

const TOKEN_KEY = 'understudy.token';

/** The token the user gave, kept in this browser's localStorage until they sign out. */
export const tokenStore = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (token: string): void => localStorage.setItem(TOKEN_KEY, token),
  clear: (): void => localStorage.removeItem(TOKEN_KEY),
};

/** A request that failed: the API's status, code, message and the fields it names. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** Type guard for {@link ApiRequestError}. */
export function isApiRequestError(error: unknown): error is ApiRequestError {
  return error instanceof ApiRequestError;
}

/** Listeners told when the server answers 401 (the token is missing or wrong). */
const unauthorizedListeners = new Set<() => void>();

/** Calls `listener` on every 401; returns the unsubscribe function. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** Options of {@link api}. */
export interface ApiOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  /** Sent as JSON. */
  json?: unknown;
  /** Overrides the stored token (the login form checks a token before keeping it). */
  token?: string | null;
  signal?: AbortSignal;
}

/** Sends a request to the API and answers its JSON; throws an ApiRequestError for any answer but 2xx. */
export async function api<T>(path: string, options: ApiOptions = {}): Promise<T> {
  const response = await send(path, options);
  return (await response.json()) as T;
}

/** Like {@link api} but answers the response itself (for files). */
export async function send(path: string, options: ApiOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? tokenStore.get() : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiRequestError(0, 'network', 'the server could not be reached; is it running?');
  }
  if (response.ok) return response;
  const body = (await response.json().catch(() => null)) as ErrorBody | null;
  const error = body?.error;
  if (response.status === 401 && options.token === undefined) for (const listener of unauthorizedListeners) listener();
  throw new ApiRequestError(
    response.status,
    error?.code ?? 'http_error',
    error?.message ?? `the server answered ${response.status} ${response.statusText}`,
    error?.details ?? [],
  );
}

/** The message to show for any error. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
