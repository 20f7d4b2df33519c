/** `understudy serve` and `npm start`: load the config, start the service, print its URL, stop cleanly on a signal. */
import type { Command } from 'commander';
import { isValidationError } from '../../core/validation.js';
import { isStoreRefusedError, isStoreUnreachableError } from '../../composition/index.js';
import { isStoreUnavailableError } from '../../runtime/job-store.js';
import type { Understudy } from '../../runtime/understudy.js';
import { loadConfig, type ConfigFlags } from '../config.js';
import { isUnsafeBindError } from '../http/bind-policy.js';
import { startService, type RunningService } from '../http/service.js';
import { CliError, ExitCode } from './exit-codes.js';
import { stopOnSignals } from './stop-on-signals.js';

/** Adds the options every process takes (--data-dir, --config, --store, --allow-volatile-redis) to a command. */
export function withEngineOptions(command: Command): Command {
  return command
    .option('--data-dir <path>', 'job store, outputs and input images (default ./data; env UNDERSTUDY_DATA_DIR)')
    .option('--config <file>', 'config file (default: understudy.config.yaml, .yml or .json here; env UNDERSTUDY_CONFIG)')
    .option('--store <url>', 'jobs in Redis, redis://[user[:password]@]host[:port][/db] or rediss://… (default: the SQLite file in the data dir; env UNDERSTUDY_STORE)')
    .option('--allow-volatile-redis', 'start on a Redis that can lose accepted jobs (no AOF always, an evicting policy): demos only');
}

/** Adds the serve options (--host, --port, --no-worker and the engine's) to a command. */
export function withServeOptions(command: Command): Command {
  return withEngineOptions(command)
    .option('--host <address>', 'address to listen on (default 127.0.0.1; env UNDERSTUDY_HOST)')
    .option('--port <number>', 'port to listen on, 0 for any free port (default 8080; env UNDERSTUDY_PORT)')
    .option('--no-worker', 'with --store: a gateway only, running no jobs itself (workers run them)');
}

/**
 * Runs the service until SIGTERM or SIGINT, then stops it: new work refused, running jobs given the grace period,
 * the rest kept queued for the next start. A second signal exits at once. Startup problems throw a CliError.
 */
export async function serve(flags: ConfigFlags): Promise<void> {
  let service: RunningService | undefined;
  try {
    const { config, file } = await loadConfig({ flags });
    service = await startService(config);
    const out = process.stdout;
    out.write(`Understudy listening on ${service.url} (docs ${service.url}/docs${config.token ? '; bearer token required' : ''})\n`);
    out.write(`  config: ${file ?? 'defaults'} + environment + flags; data in ${config.dataDir}\n`);
    out.write(`  ${await describeStore(service.understudy)}${config.store && !config.localWorker ? '; gateway only (--no-worker)' : ''}\n`);
    out.write(`  try: npx understudy submit --model t2v-A14B --prompt "a red fox running through snow"\n`);
    const grace = config.shutdownGraceSeconds;
    const running = service;
    // Once everything is closed the process exits, abandoning what backends still have scheduled (a simulated
    // download's timer, say): the jobs that waited for it are in the store and resume on the next start.
    stopOnSignals({
      stop: () => running.stop(),
      stopping: `shutting down; running jobs get up to ${grace} s to finish, the rest stay queued`,
      abandoning: 'exiting now; unfinished jobs resume on the next start',
    });
  } catch (error) {
    await service?.stop();
    throw startupError(error);
  }
}

/** One line about the store: its kind and where it is (never a password), and loudly when it may lose jobs. */
export async function describeStore(understudy: Understudy): Promise<string> {
  const status = await understudy.storeStatus();
  const where = `store: ${status.kind} at ${status.location}`;
  return status.volatile ? `${where}\n  WARNING: this store can lose accepted jobs (${status.problems.join('; ')}); allowed by --allow-volatile-redis` : where;
}

/** A startup failure as the CliError it stands for: bad input (exit 2) for what the operator must fix. */
export function startupError(error: unknown): unknown {
  if (isValidationError(error)) return new CliError(ExitCode.badInput, error.message);
  if (isUnsafeBindError(error)) return new CliError(ExitCode.badInput, error.message);
  if (isStoreRefusedError(error)) return new CliError(ExitCode.badInput, error.message);
  if (isStoreUnavailableError(error) || isStoreUnreachableError(error)) return new CliError(ExitCode.unreachable, error.message);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new CliError(ExitCode.badInput, `cannot listen: ${(error as Error).message}; choose another --port or --host`);
  }
  return error;
}
