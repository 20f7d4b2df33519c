import { DownloadError } from './download-errors.js';
import type { ResponseHead, TransferWorker } from './transfer-worker.js';

/** How to open one ranged GET. */
export interface RangeRequestOptions {
  /** First byte wanted; 0 sends no Range header. */
  offset: number;
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

/** A response whose body the transfer worker holds, for the caller to save or discard. */
export interface RangeResponse {
  /** The URL that answered, after redirects. */
  readonly url: string;
  /**
   * 206: the body starts at `start`. 200: the body is the whole file (the server ignored the range).
   * 416: nothing to send from the offset; `totalSize` says the file's size when the server told it.
   */
  readonly status: 200 | 206 | 416;
  /** Byte of the file the body starts at. */
  readonly start: number;
  /** Size of the whole file, when announced (Content-Range total, or Content-Length of a 200). */
  readonly totalSize?: number;
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
 * Sends `GET url` through `transfer` asking for the bytes from `offset` on, following at most `maxRedirects`
 * redirects, each target re-checked for scheme and host. Error statuses become {@link DownloadError}s: 404/410
 * `not_found`, 401/403 `forbidden`, 429 `rate_limited` and 5xx `server_error` (both with `retryAfterMs` when sent),
 * others `http_error`; connection failures become `network`. An abort rejects with the signal's reason. Only a 200 or
 * 206 leaves a body in `transfer`.
 */
export async function openRange(url: string, transfer: TransferWorker, options: RangeRequestOptions): Promise<RangeResponse> {
  let current = checkUrl(url, options.allowedHosts);
  const origin = current.origin;
  for (let redirects = 0; ; redirects++) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (current.origin !== origin && STRIPPED_ON_CROSS_ORIGIN.has(name.toLowerCase())) continue;
      headers[name.toLowerCase()] = value;
    }
    if (options.offset > 0) headers.range = `bytes=${options.offset}-`;
    const response = await transfer.get(current.href, headers, options.signal);
    const status = response.status;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location !== undefined) {
      transfer.discard();
      if (redirects >= options.maxRedirects) {
        throw new DownloadError('too_many_redirects', `More than ${options.maxRedirects} redirects starting at ${url}`, {
          url: current.href,
          httpStatus: status,
        });
      }
      current = checkUrl(location, options.allowedHosts, current.href);
      continue;
    }
    return interpret(current.href, response, transfer, options);
  }
}

function interpret(url: string, response: ResponseHead, transfer: TransferWorker, options: RangeRequestOptions): RangeResponse {
  const status = response.status;
  const contentRange = response.headers['content-range'];
  if (status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
    if (!match) {
      transfer.discard();
      throw new DownloadError('http_error', `206 from ${url} without a valid Content-Range (got ${String(contentRange)})`, {
        url,
        httpStatus: status,
      });
    }
    const total = match[3] === '*' ? undefined : Number(match[3]);
    return { url, status, start: Number(match[1]), ...(total === undefined ? {} : { totalSize: total }) };
  }
  if (status === 200) {
    const length = response.headers['content-length'];
    return { url, status, start: 0, ...(length === undefined ? {} : { totalSize: Number(length) }) };
  }
  if (status === 416) {
    transfer.discard();
    const total = /^bytes \*\/(\d+)$/.exec(contentRange ?? '')?.[1];
    return { url, status, start: options.offset, ...(total === undefined ? {} : { totalSize: Number(total) }) };
  }
  transfer.discard();
  const retryAfterMs = parseRetryAfter(response.headers['retry-after'], options.now);
  const facts = { url, httpStatus: status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  if (status === 404 || status === 410) throw new DownloadError('not_found', `${url} answered ${status} Not Found`, facts);
  if (status === 401 || status === 403) throw new DownloadError('forbidden', `${url} answered ${status}: access denied`, facts);
  if (status === 429) throw new DownloadError('rate_limited', `${url} answered 429 Too Many Requests`, facts);
  if (status >= 500) throw new DownloadError('server_error', `${url} answered ${status}`, facts);
  throw new DownloadError('http_error', `${url} answered unexpected status ${status}`, facts);
}
