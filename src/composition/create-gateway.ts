/**
 * A gateway on a Redis store: the API's engine, planning on the union of live workers (their heartbeats), enqueueing
 * and cancelling in Redis, keeping house (expiry, lapsed leases: idempotent across gateways) and showing every
 * process's events, placing model downloads on live workers. Unless `localWorker` is false it also runs jobs on its
 * own backends, as a worker does, so one machine works as before.
 */
import { ClusterDownloads } from '../runtime/cluster/cluster-downloads.js';
import { waitingJobsOf } from '../runtime/download-placement-timeline.js';
import { RelayEventLog } from '../runtime/cluster/relay-event-log.js';
import { RemoteBackends } from '../runtime/cluster/remote-backend.js';
import type { Understudy } from '../runtime/understudy.js';
import { buildEngine, type EngineBasics } from './build-engine.js';
import { joinCluster } from './cluster-joins.js';
import { machineContext, type UnderstudyDependencies } from './create-understudy.js';
import { openLocalMachine, type LocalMachine } from './local-machine.js';
import { openRedisCluster } from './redis-cluster.js';
import { ModelFilePresence } from '../runtime/model-file-presence.js';

/** A gateway's machine when it runs no jobs: no backends, no model files. */
function noMachine(): LocalMachine {
  return { backends: [], presence: new ModelFilePresence(undefined), stopOnClose: [] };
}

/** Builds a gateway on the Redis store of `basics.config.store`. */
export async function createGateway(configured: EngineBasics, deps: UnderstudyDependencies): Promise<Understudy> {
  const { config, catalog } = configured;
  const works = config.localWorker;
  const cluster = await openRedisCluster(configured, 'gateway', deps.warn ?? ((message) => process.stderr.write(`${message}\n`)));
  // Every process of the cluster runs on Redis's time: leases, deadlines and acceptance times agree across machines.
  const basics = { ...configured, clock: cluster.opened.clock };
  const { clock } = basics;
  try {
    const remote = new RemoteBackends({ directory: cluster.directory, clock, knownModels: catalog.models.map((m) => m.id) });
    const machine = works ? await openLocalMachine(config, machineContext(basics, deps)) : noMachine();
    // The WebSocket's events and ids are the relay's: one order on every gateway, resumable across restarts.
    const log = new RelayEventLog(cluster.relay);
    const { understudy } = await buildEngine(basics, cluster.opened, {
      machine,
      claim: works,
      directory: cluster.directory,
      remote,
      eventLog: log,
      placement: (emit) =>
        new ClusterDownloads({
          directory: cluster.directory,
          control: cluster.control,
          catalog,
          clock,
          emit,
          waiting: waitingJobsOf(cluster.opened.store),
        }),
      signalCancel: (jobId, reason) => cluster.cancels.signal(jobId, reason),
      signalWork: (modelId) => cluster.work.signal(modelId),
      join: async (engine) => {
        await remote.start();
        return [...(await joinCluster(engine, cluster, { works, workerId: basics.workerId, log })), cluster];
      },
    });
    return understudy;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
