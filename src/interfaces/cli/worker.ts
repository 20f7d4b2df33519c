/**
 * `understudy worker`: a worker next to GPUs, on a Redis store. It runs jobs on the backends of its config (the
 * simulated GPU by default, or `comfyui:` entries), with its model files, downloads, probes, recovery and breakers,
 * and announces itself to the gateways by heartbeat. It listens on no port.
 */
import type { Command } from 'commander';
import { createWorker } from '../../composition/index.js';
import { ValidationError } from '../../core/validation.js';
import { engineConfig, loadConfig, type ConfigFlags } from '../config.js';
import { describeStore, startupError, withEngineOptions } from './serve.js';
import { stopOnSignals } from './stop-on-signals.js';

/** Adds the worker's options (--id and the engine's) to a command. */
export function withWorkerOptions(command: Command): Command {
  return withEngineOptions(command).option('--id <name>', "this worker's name among workers (default host name + pid; env UNDERSTUDY_WORKER_ID)");
}

/**
 * Runs a worker until SIGTERM or SIGINT, then stops it: no new claims, running jobs given the grace period, the rest
 * given back to the queue for other workers; the worker leaves the directory. A second signal exits at once.
 */
export async function runWorker(flags: ConfigFlags): Promise<void> {
  let config;
  try {
    ({ config } = await loadConfig({ flags }));
    if (config.store === undefined) {
      throw new ValidationError('worker', [{ field: '--store', problem: 'a worker needs the Redis store its gateways use: --store redis://host:port (or UNDERSTUDY_STORE, or store: in the config)' }]);
    }
  } catch (error) {
    throw startupError(error);
  }
  const worker = await createWorker(engineConfig(config)).catch((error: unknown) => {
    throw startupError(error);
  });
  await worker.understudy.start();
  const out = process.stdout;
  out.write(`Understudy worker ${worker.id} running (${worker.understudy.backends.map((b) => b.id).join(', ')}); no port\n`);
  out.write(`  ${await describeStore(worker.understudy)}\n`);
  const grace = config.shutdownGraceSeconds;
  stopOnSignals({
    stop: () => worker.understudy.close(grace * 1000),
    stopping: `stopping; running jobs get up to ${grace} s to finish, the rest go back to the queue`,
    abandoning: 'exiting now; its running jobs go to other workers once their lease lapses',
  });
}
