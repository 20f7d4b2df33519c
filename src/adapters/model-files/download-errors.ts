/** Errors of the model-files adapter: unsafe catalog paths and failed downloads. */

/** Why a download failed. */
export const DOWNLOAD_ERROR_CODES = [
  /** The server answered 404 or 410. Not retried; the next URL is tried. */
  'not_found',
  /** The server answered 401 or 403. Not retried; the next URL is tried. */
  'forbidden',
  /** The server answered 429 Too Many Requests on every retry. */
  'rate_limited',
  /** The server answered 5xx on every retry. */
  'server_error',
  /** Another unexpected HTTP status (e.g. 400). Not retried. */
  'http_error',
  /** The connection failed, stalled or closed early on every retry. */
  'network',
  /** The server sent a different size than the catalog declares. Not retried. */
  'size_mismatch',
  /** The file's sha256 differed from the catalog twice in a row. */
  'checksum_mismatch',
  /** Not enough free disk space for the rest of the file, or the disk filled while writing. */
  'disk_full',
  /** Reading or writing the local file failed for another reason (permissions, I/O error). */
  'io_error',
  /** The file is larger than the configured maximum size. */
  'too_large',
  /** A URL or redirect target uses a scheme other than http or https. */
  'scheme_not_allowed',
  /** A URL or redirect target's host is not on the allowlist. */
  'host_not_allowed',
  /** More redirects than allowed. */
  'too_many_redirects',
  /** The catalog path is unsafe (escapes the models directory). */
  'unsafe_path',
  /** Cancelled by the caller. */
  'cancelled',
] as const;
export type DownloadErrorCode = (typeof DOWNLOAD_ERROR_CODES)[number];

/** Codes that another attempt of the same URL may cure. */
const RETRYABLE_CODES: ReadonlySet<DownloadErrorCode> = new Set(['rate_limited', 'server_error', 'network']);

/** Extra facts about a download failure. */
export interface DownloadErrorDetails {
  /** The URL involved (the redirect target when a redirect was refused). */
  url?: string;
  /** The catalog path of the file. */
  path?: string;
  /** HTTP status received. */
  httpStatus?: number;
  /** Wait the server asked for (Retry-After), milliseconds. */
  retryAfterMs?: number;
  /** sha256 the catalog declares. */
  expectedSha256?: string;
  /** sha256 of the bytes received. */
  actualSha256?: string;
  /** Bytes the rest of the download needs on disk. */
  bytesNeeded?: number;
  /** Bytes free on the disk of the models directory. */
  bytesFree?: number;
  /** Attempts made before giving up. */
  attempts?: number;
  /** The underlying error. */
  cause?: unknown;
}

/** A download that failed, with a machine-readable `code` and the facts that explain it. */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  readonly url?: string;
  readonly path?: string;
  readonly httpStatus?: number;
  readonly retryAfterMs?: number;
  readonly expectedSha256?: string;
  readonly actualSha256?: string;
  readonly bytesNeeded?: number;
  readonly bytesFree?: number;
  readonly attempts?: number;

  constructor(
    readonly code: DownloadErrorCode,
    message: string,
    details: DownloadErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    const { cause: _cause, ...facts } = details;
    Object.assign(this, facts);
  }

  /** Whether retrying the same URL may succeed (network errors, 429, 5xx). */
  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }

  /** A copy with more facts, e.g. the catalog path once known. */
  with(details: DownloadErrorDetails, message = this.message): DownloadError {
    return new DownloadError(this.code, message, { ...this.facts(), cause: this.cause, ...details });
  }

  private facts(): DownloadErrorDetails {
    const { url, path, httpStatus, retryAfterMs, expectedSha256, actualSha256, bytesNeeded, bytesFree, attempts } = this;
    return { url, path, httpStatus, retryAfterMs, expectedSha256, actualSha256, bytesNeeded, bytesFree, attempts };
  }
}

/** Type guard for {@link DownloadError}; pass `code` to also check the code. */
export function isDownloadError(error: unknown, code?: DownloadErrorCode): error is DownloadError {
  return error instanceof DownloadError && (code === undefined || error.code === code);
}

/** A catalog file path that would resolve outside the models directory, or is malformed. */
export class ModelPathError extends Error {
  override readonly name = 'ModelPathError';

  constructor(
    /** The path as the catalog (or layout) wrote it. */
    readonly path: string,
    /** What is wrong with it and what is allowed. */
    readonly problem: string,
  ) {
    super(`Unsafe model file path ${JSON.stringify(path)}: ${problem}`);
  }
}

/** Type guard for {@link ModelPathError}. */
export function isModelPathError(error: unknown): error is ModelPathError {
  return error instanceof ModelPathError;
}

/**
 * A local file-system error as a {@link DownloadError}: `disk_full` for ENOSPC or EDQUOT, `io_error` otherwise. `doing`
 * says what failed, capitalised, e.g. `Writing diffusion_models/t2v.safetensors.part`.
 */
export function fileSystemError(error: unknown, doing: string): DownloadError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = (error as Error | undefined)?.message ?? String(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DownloadError('disk_full', `${doing} failed: the disk is full (${message})`, { cause: error });
  return new DownloadError('io_error', `${doing} failed: ${message}`, { cause: error });
}
