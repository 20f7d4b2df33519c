/** A worker on a Redis store: jobs on this machine's backends, a heartbeat, its events relayed; no HTTP. */
import type { Understudy } from '../runtime/understudy.js';
import type { UnderstudyConfigInput } from './config-schema.js';
import type { UnderstudyDependencies } from './create-understudy.js';

/** A worker process's engine and its name among workers. */
export interface UnderstudyWorker {
  /** Names the worker in the directory and in leases. */
  id: string;
  /** The engine: `start()` it; `close(graceMs)` stops claiming, finishes or gives back running jobs, and withdraws the worker. */
  understudy: Understudy;
}

/** Builds a worker on the Redis store of `config.store`. */
export function createWorker(_config: UnderstudyConfigInput, _deps: UnderstudyDependencies = {}): Promise<UnderstudyWorker> {
  return Promise.reject(new Error('the Redis store is not wired in yet'));
}
