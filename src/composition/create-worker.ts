/**
 * A worker on a Redis store: jobs claimed from the store for its own backends (the simulated GPU or `comfyui:`
 * entries), with its model files, downloads, probes, recovery and breakers; its heartbeat in the directory, its
 * events on the relay, cancels heard from any gateway, downloads a gateway asks of it. No HTTP.
 */
import { parseOrThrow, ValidationError } from '../core/validation.js';
import type { Understudy } from '../runtime/understudy.js';
import { buildEngine } from './build-engine.js';
import { joinCluster } from './cluster-joins.js';
import { UnderstudyConfigSchema, type UnderstudyConfigInput } from './config-schema.js';
import { engineBasics, machineContext, type UnderstudyDependencies } from './create-understudy.js';
import { openLocalMachine } from './local-machine.js';
import { openRedisCluster } from './redis-cluster.js';

/** A worker process's engine and its name among workers. */
export interface UnderstudyWorker {
  /** Names the worker in the directory and in leases. */
  id: string;
  /** The engine: `start()` it; `close(graceMs)` stops claiming, finishes or gives back running jobs, and withdraws the worker. */
  understudy: Understudy;
}

/** Builds a worker on the Redis store of `config.store`. */
export async function createWorker(configInput: UnderstudyConfigInput, deps: UnderstudyDependencies = {}): Promise<UnderstudyWorker> {
  if (parseOrThrow(UnderstudyConfigSchema, configInput, 'config').store === undefined) {
    throw new ValidationError('worker', [{ field: 'store', problem: 'a worker needs the Redis store its gateways use (store: redis://host:port)' }]);
  }
  const configured = await engineBasics(configInput, deps);
  const cluster = await openRedisCluster(configured, 'worker', deps.warn ?? ((message) => process.stderr.write(`${message}\n`)));
  // Every process of the cluster runs on Redis's time: leases, deadlines and acceptance times agree across machines.
  const basics = { ...configured, clock: cluster.opened.clock };
  try {
    const machine = await openLocalMachine(basics.config, machineContext(basics, deps));
    const { understudy } = await buildEngine(basics, cluster.opened, {
      machine,
      claim: true,
      announcesEstimates: false,
      directory: cluster.directory,
      signalCancel: (jobId, reason) => cluster.cancels.signal(jobId, reason),
      signalWork: (modelId) => cluster.work.signal(modelId),
      join: async (engine) => [...(await joinCluster(engine, cluster, { works: true, workerId: basics.workerId })), cluster],
    });
    return { id: basics.workerId, understudy };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
