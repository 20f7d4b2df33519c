import { DownloadError } from './download-errors.js';
import type { HttpConnections, Route } from './http-connections.js';
import { dispatchRequest, type ResponseBody, type ResponseHead } from './response-handler.js';

/** How to open one ranged GET. */
export interface RangeRequestOptions {
  /** First byte wanted. */
  start: number;
  /** Last byte wanted (inclusive); omitted: to the end of the file. From byte 0 to the end, no Range header is sent. */
  end?: number;
  /** A strong ETag sent as If-Range with a ranged request, so that a file that changed comes back whole (200). */
  ifRange?: string;
  /** Aborts the request and its body. */
  signal: AbortSignal;
  /** Hosts allowed for the URL and every redirect target; undefined allows any host. */
  allowedHosts?: readonly string[];
  /** Redirects followed before failing with `too_many_redirects`. */
  maxRedirects: number;
  /** Extra request headers; `authorization` and `cookie` are dropped when a redirect leaves the origin. */
  headers?: Readonly<Record<string, string>>;
  /** Epoch milliseconds now, used to read a Retry-After given as an HTTP date. */
  now: number;
}

/** A response with a body for the caller to save (or `dump`). */
export interface RangeResponse {
  /** The URL that answered, after redirects. */
  readonly url: string;
  /** 206: the body starts at `start`. 200: the body is the whole file (the server ignored the range). */
  readonly status: 200 | 206;
  /** Byte of the file the body starts at. */
  readonly start: number;
  /** Size of the whole file, when announced (Content-Range total, or Content-Length of a 200). */
  readonly totalSize?: number;
  /** The ETag, when the server sent one. */
  readonly etag?: string;
  /** The body, paused until piped to a sink (or dumped). */
  readonly body: ResponseBody;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const STRIPPED_ON_CROSS_ORIGIN = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** Whether `host` (a lowercase hostname) matches an allowlist entry: the exact name, or `*.domain` for subdomains. */
export function hostAllowed(host: string, allowedHosts: readonly string[] | undefined): boolean {
  if (allowedHosts === undefined) return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return allowedHosts.some((entry) => (entry.startsWith('*.') ? bare.endsWith(entry.slice(1)) : bare === entry));
}

/** Parses a URL and checks it is http(s) on an allowed host; throws `scheme_not_allowed` or `host_not_allowed`. */
export function checkUrl(url: string | URL, allowedHosts: readonly string[] | undefined, base?: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch (error) {
    throw new DownloadError('http_error', `Not a valid URL: ${String(url)}`, { url: String(url), cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new DownloadError('scheme_not_allowed', `URL scheme "${parsed.protocol}" of ${parsed.href} is not allowed; expected http or https`, {
      url: parsed.href,
    });
  }
  if (!hostAllowed(parsed.hostname, allowedHosts)) {
    throw new DownloadError(
      'host_not_allowed',
      `Host "${parsed.hostname}" of ${parsed.href} is not allowed; allowed hosts: ${(allowedHosts ?? []).join(', ')}`,
      { url: parsed.href },
    );
  }
  return parsed;
}

/** Milliseconds to wait from a Retry-After header (delta seconds or HTTP date), undefined when absent or invalid. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Sends `GET url` through `connections` asking for the bytes from `start` (to `end`), following at most
 * `maxRedirects` redirects, each target re-checked for scheme and host. Error statuses become {@link DownloadError}s:
 * 404/410 `not_found`, 401/403 `forbidden`, 429 `rate_limited` and 5xx `server_error` (both with `retryAfterMs` when
 * sent), 416 and others `http_error`; connection failures become `network` (a proxy refusing credentials, 407,
 * `forbidden`). An abort rejects with the signal's reason. Only a 200 or 206 is returned, with its body.
 */
export async function openRange(url: string, connections: HttpConnections, options: RangeRequestOptions): Promise<RangeResponse> {
  let current = checkUrl(url, options.allowedHosts);
  const origin = current.origin;
  for (let redirects = 0; ; redirects++) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (current.origin !== origin && STRIPPED_ON_CROSS_ORIGIN.has(name.toLowerCase())) continue;
      headers[name.toLowerCase()] = value;
    }
    if (options.start > 0 || options.end !== undefined) {
      headers.range = `bytes=${options.start}-${options.end ?? ''}`;
      if (options.ifRange !== undefined) headers['if-range'] = options.ifRange;
    }
    const route = connections.routeFor(current);
    const response = await send(current, route, headers, options.signal);
    const status = response.status;
    if (status === 407 && route.proxy) {
      await discard(response);
      throw proxyRefusal(current, route.proxy, '407');
    }
    const location = header(response.headers, 'location');
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      await discard(response);
      if (redirects >= options.maxRedirects) {
        throw new DownloadError('too_many_redirects', `More than ${options.maxRedirects} redirects starting at ${url}`, {
          url: current.href,
          httpStatus: status,
        });
      }
      current = checkUrl(location, options.allowedHosts, current.href);
      continue;
    }
    return interpret(current.href, response, options);
  }
}

async function send(url: URL, route: Route, headers: Record<string, string>, signal: AbortSignal): Promise<ResponseHead> {
  try {
    return await dispatchRequest(route.dispatcher, { origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers }, signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason as Error;
    throw requestFailure(error, url, route);
  }
}

/** A failed request as a {@link DownloadError}: a proxy's refusal names the proxy and what it refused. */
function requestFailure(error: unknown, url: URL, route: Route): DownloadError {
  const message = error instanceof Error ? error.message : String(error);
  const proxyStatus = /Proxy response \((\d+)\)/.exec(message)?.[1] ?? (/\(407\)/.test(message) ? '407' : undefined);
  if (route.proxy && proxyStatus !== undefined) return proxyRefusal(url, route.proxy, proxyStatus, error);
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return new DownloadError('network', `Request to ${url.href} failed: ${message}${cause}`, { url: url.href, cause: error });
}

/** A proxy's refusal to pass a request on, naming the proxy and what it refused. */
function proxyRefusal(url: URL, proxy: URL, status: string, cause?: unknown): DownloadError {
  const authority = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
  const refused = url.protocol === 'https:' ? `CONNECT ${authority}` : `GET ${url.href}`;
  // A proxy that wants credentials will not take the same ones on a retry.
  return new DownloadError(status === '407' ? 'forbidden' : 'network', `Request to ${url.href} failed: the proxy ${proxy.host} answered ${status} to ${refused}`, {
    url: url.href,
    ...(cause === undefined ? {} : { cause }),
  });
}

function interpret(url: string, response: ResponseHead, options: RangeRequestOptions): Promise<RangeResponse> | RangeResponse {
  const status = response.status;
  const contentRange = header(response.headers, 'content-range');
  const etag = header(response.headers, 'etag');
  const body = response.body;
  const common = { url, body, ...(etag === undefined ? {} : { etag }) };
  if (status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
    if (!match) {
      return failAfterDiscard(response, new DownloadError('http_error', `206 from ${url} without a valid Content-Range (got ${String(contentRange)})`, { url, httpStatus: status }));
    }
    const total = match[3] === '*' ? undefined : Number(match[3]);
    return { ...common, status, start: Number(match[1]), ...(total === undefined ? {} : { totalSize: total }) };
  }
  if (status === 200) {
    const length = header(response.headers, 'content-length');
    return { ...common, status, start: 0, ...(length === undefined ? {} : { totalSize: Number(length) }) };
  }
  const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'), options.now);
  const facts = { url, httpStatus: status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  if (status === 416) return failAfterDiscard(response, new DownloadError('http_error', `${url} refused the range from byte ${options.start} (416)`, facts));
  if (status === 404 || status === 410) return failAfterDiscard(response, new DownloadError('not_found', `${url} answered ${status} Not Found`, facts));
  if (status === 401 || status === 403) return failAfterDiscard(response, new DownloadError('forbidden', `${url} answered ${status}: access denied`, facts));
  if (status === 429) return failAfterDiscard(response, new DownloadError('rate_limited', `${url} answered 429 Too Many Requests`, facts));
  if (status >= 500) return failAfterDiscard(response, new DownloadError('server_error', `${url} answered ${status}`, facts));
  return failAfterDiscard(response, new DownloadError('http_error', `${url} answered unexpected status ${status}`, facts));
}

async function failAfterDiscard(response: ResponseHead, error: DownloadError): Promise<never> {
  await discard(response);
  throw error;
}

/** Reads and drops a body that is not wanted, so its connection can serve the next request. */
async function discard(response: ResponseHead): Promise<void> {
  await response.body.dump();
}

/** The first value of a response header. */
function header(headers: ResponseHead['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
