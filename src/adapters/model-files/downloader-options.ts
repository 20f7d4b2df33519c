/** Options of the model-file downloader, validated with zod; every field has a documented default. */
import { z } from 'zod';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** A hostname, or `*.domain` for every subdomain of `domain`. */
export const HostPatternSchema = z
  .string()
  .transform((h) => h.toLowerCase())
  .pipe(z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9.:-]*[a-z0-9])?$/, 'expected a hostname such as "huggingface.co" or "*.hf.co"'));

/** The line that opens a certificate in PEM text. */
export const PEM_CERTIFICATE_LINE = '-----BEGIN CERTIFICATE-----';

/** Extra request headers: names are HTTP tokens, values one line (nothing that could split the request). */
export const RequestHeadersSchema = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name: letters, digits and !#$%&\'*+-.^_`|~ only'),
  z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'expected a header value on one line: no CR, LF or other control characters'),
);

/** Options of {@link ModelDownloader}; every field has a default. */
export const DownloaderOptionsSchema = z.strictObject({
  /** Files downloaded at the same time. Default 2. */
  maxConcurrent: z.number().int().min(1).max(32).default(2),
  /** Retries of a URL after network errors, 429 or 5xx, counted since the last real progress. Default 5. */
  maxRetries: z.number().int().min(0).max(100).default(5),
  /** First retry delay, ms. Default 5000 (the reference download retry delay). */
  initialBackoffMs: z.number().int().min(0).default(5000),
  /** Multiplier of the delay after each failed retry. Default 2. */
  backoffFactor: z.number().min(1).max(10).default(2),
  /** Longest retry delay, ms (before jitter). Default 60000. */
  maxBackoffMs: z.number().int().min(0).default(60_000),
  /** Random spread of each delay: ±this fraction. Default 0.2. */
  jitter: z.number().min(0).max(1).default(0.2),
  /** Longest Retry-After honoured, ms; longer requests wait this long. Default 600000 (10 min). */
  maxRetryAfterMs: z.number().int().min(0).default(600_000),
  /** An attempt that wrote at least this many bytes resets the retry count. Default 1 MiB. */
  progressResetBytes: z.number().int().min(1).default(MIB),
  /** Largest file accepted, bytes. Default 256 GiB. */
  maxFileBytes: z.number().int().positive().default(256 * GIB),
  /** Hosts URLs and redirect targets may use (`host` or `*.domain`); omitted allows any host. */
  allowedHosts: z.array(HostPatternSchema).min(1).optional(),
  /** Redirects followed per request. Default 5. */
  maxRedirects: z.number().int().min(0).max(20).default(5),
  /** A request with no data for this long is abandoned and retried, ms. Default 60000. */
  idleTimeoutMs: z.number().int().positive().default(60_000),
  /** Period of speed samples and progress events, ms. Default 500. */
  progressIntervalMs: z.number().int().positive().default(500),
  /** Weight of the newest speed sample in the moving average, (0, 1]. Default 0.3. */
  speedSmoothing: z.number().gt(0).max(1).default(0.3),
  /** Free space kept beyond the file itself, bytes. Default 0. */
  freeSpaceReserveBytes: z.number().int().min(0).default(0),
  /** Extra request headers (e.g. authorization); credentials are not sent to another origin after a redirect. */
  headers: RequestHeadersSchema.default({}),
  /**
   * An http proxy for every URL (`http://[user:password@]host:port`; https goes through it by CONNECT). Default: the
   * environment's `HTTPS_PROXY` / `HTTP_PROXY`. `NO_PROXY` lists hosts reached directly either way.
   */
  proxy: z.string().regex(/^http:\/\/[^/?#\s]+\/?$/, 'expected an http proxy URL such as "http://proxy.example:3128"').optional(),
  /** PEM certificates trusted for https beside Node's bundled roots, e.g. a private mirror's own CA. */
  caCertificates: z.string().includes(PEM_CERTIFICATE_LINE, { message: `expected PEM text with at least one "${PEM_CERTIFICATE_LINE}" block` }).optional(),
  /** Flush each file to stable storage before the atomic rename (and its data before each sidecar update). Default true. */
  fsync: z.boolean().default(true),
  /**
   * Connections per file when the server takes byte ranges: the file is fetched in segments over this many at once.
   * 1 fetches it in one piece. Default 4.
   */
  connections: z.number().int().min(1).max(16).default(4),
  /** `connections` for particular hosts (`host` or `*.domain`, matched on each catalog URL), e.g. `{ "mirror.lan": 1 }`. */
  connectionsPerHost: z.record(HostPatternSchema, z.number().int().min(1).max(16)).default({}),
  /** Smallest segment; a file under twice this size is fetched in one piece. Default 8 MiB. */
  minSegmentBytes: z.number().int().min(1).default(8 * MIB),
});
export type DownloaderOptions = z.input<typeof DownloaderOptionsSchema>;
/** Options with every default filled in. */
export type ResolvedOptions = z.output<typeof DownloaderOptionsSchema>;

