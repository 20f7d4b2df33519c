/** What the `understudy` command's exit status means; scripts can rely on these. */
export const ExitCode = {
  /** Done; for submit, the generation succeeded (a labelled preview included). */
  ok: 0,
  /** The generation failed, was cancelled or expired. */
  jobFailed: 1,
  /** Bad input: a usage error, a request the server refused as invalid (400), or a bad config. */
  badInput: 2,
  /** The server could not be reached. */
  unreachable: 3,
  /** Nothing the request allows can deliver: the plan was rejected (422). */
  rejected: 4,
  /** The token is missing or wrong (401). */
  unauthorized: 5,
  /** No such generation or model (404). */
  notFound: 6,
  /** The server is busy: queue full, rate limited (429), or shutting down (503); retry later. */
  busy: 7,
  /** The request conflicts with the generation's state, e.g. cancelling a finished one (409). */
  conflict: 8,
  /** The server failed (5xx). */
  serverError: 9,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit status for an HTTP error status. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 413 || status === 415) return ExitCode.badInput;
  if (status === 401) return ExitCode.unauthorized;
  if (status === 404) return ExitCode.notFound;
  if (status === 409) return ExitCode.conflict;
  if (status === 422) return ExitCode.rejected;
  if (status === 429 || status === 503) return ExitCode.busy;
  return ExitCode.serverError;
}

/** An error that ends the command with a message and an exit status. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Further lines, e.g. the fields of a 400. */
    readonly details: readonly string[] = [],
    /** The server's error body, printed as is with --json. */
    readonly body?: unknown,
  ) {
    super(message);
  }
}
