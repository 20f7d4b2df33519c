import { isLoopback } from '../../core/loopback.js';

/** Thrown when the service is asked to listen beyond loopback without a token. */
export class UnsafeBindError extends Error {
  override readonly name = 'UnsafeBindError';

  constructor(readonly host: string) {
    super(
      `refusing to listen on ${host} without a token: anyone who can reach this machine could submit jobs, cancel ` +
        'them and read their outputs. Set a token (UNDERSTUDY_TOKEN, or token in the config file; at least 16 ' +
        'characters, e.g. `openssl rand -hex 32`), or listen on 127.0.0.1.',
    );
  }
}

/** Type guard for {@link UnsafeBindError}. */
export function isUnsafeBindError(error: unknown): error is UnsafeBindError {
  return error instanceof UnsafeBindError;
}

/** Throws an {@link UnsafeBindError} when `host` is beyond loopback and there is no token. */
export function assertSafeBind(host: string, token: string | undefined): void {
  if (!token && !isLoopback(host)) throw new UnsafeBindError(host);
}
