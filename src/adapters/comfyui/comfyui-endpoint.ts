/**
 * Where a ComfyUI server is and how to reach it through the proxy in front of it: the configured URL split into a
 * base URL without secrets, the query added to every request, and the headers (configured ones, environment values
 * resolved, and `user:password@` of the URL as basic auth). ComfyUI has no auth of its own, so any auth is a proxy's.
 */
import { ValidationError, type ValidationIssue } from '../../core/validation.js';
import type { HeaderValue } from './comfyui-config.js';

/** A ComfyUI server's address and credentials, ready for requests. */
export interface ComfyUiEndpoint {
  /** Origin and path prefix, without credentials, query or trailing slash, e.g. `https://gpu.example.com/comfy`. */
  readonly baseUrl: string;
  /** Query parameters added to every request and the WebSocket (from the configured URL). */
  readonly query: ReadonlyArray<readonly [string, string]>;
  /** Headers sent with every request and the WebSocket upgrade. */
  readonly headers: Readonly<Record<string, string>>;
  /** The server as shown in labels, errors and events: the base URL, `?…` when it has a query; never a secret. */
  readonly display: string;
}

/**
 * Splits `url` (as configured) and resolves `headers`, reading `{"env": NAME}` values from `env`.
 * @throws ValidationError naming the header whose variable is unset, or the URL that gives basic auth twice
 */
export function resolveEndpoint(url: string, headers: Readonly<Record<string, HeaderValue>>, env: Readonly<Record<string, string | undefined>>): ComfyUiEndpoint {
  const parsed = new URL(url);
  const issues: ValidationIssue[] = [];
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') resolved[name] = value;
    else if (env[value.env] !== undefined && env[value.env] !== '') resolved[name] = env[value.env] as string;
    else issues.push({ field: `headers.${name}`, problem: `expected the environment variable ${value.env} to be set (it gives this header's value)` });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    if (Object.keys(resolved).some((name) => name.toLowerCase() === 'authorization')) {
      issues.push({ field: 'url', problem: 'gives user:password@ and headers give an Authorization header too; keep one of them', received: redactUrl(url) });
    } else {
      const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
      resolved.Authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
    }
  }
  if (issues.length > 0) throw new ValidationError('ComfyUI backend config', issues);
  const query = [...parsed.searchParams.entries()];
  const baseUrl = `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, '');
  return { baseUrl, query, headers: resolved, display: query.length > 0 ? `${baseUrl}?…` : baseUrl };
}

/** `url` with any `user:password@` and query replaced by `…`, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const userinfo = parsed.username !== '' || parsed.password !== '' ? '…@' : '';
    if (userinfo === '' && parsed.search === '') return url;
    return `${parsed.protocol}//${userinfo}${parsed.host}${parsed.pathname}${parsed.search ? '?…' : ''}`;
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//…@').replace(/\?.*$/, '?…');
  }
}
