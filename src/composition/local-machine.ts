/**
 * The machine a process runs jobs on: its ComfyUI servers or the simulated GPU, and its models directory. Gateways
 * without a worker have none of it.
 */
import { resolve } from 'node:path';
import type { Catalog } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import type { PlannerConfig } from '../core/planning.js';
import { ValidationError, isValidationError } from '../core/validation.js';
import { ComfyUiBackend } from '../adapters/comfyui/comfyui-backend.js';
import type { ComfyUiConfigInput } from '../adapters/comfyui/comfyui-config.js';
import { ModelFiles } from '../adapters/model-files/model-files.js';
import { SimulatedBackend } from '../adapters/simulated-backend.js';
import { SimulatedLink } from '../adapters/simulated-link.js';
import type { Backend } from '../runtime/backend.js';
import { ModelFilePresence } from '../runtime/model-file-presence.js';
import { readCaFile } from './config-files.js';
import type { UnderstudyConfig } from './config-schema.js';

/** A machine's backends and model files. */
export interface LocalMachine {
  backends: readonly Backend[];
  /** The models directory, when `modelFiles` is configured. */
  files?: ModelFiles;
  presence: ModelFilePresence;
  /** What the engine launched and stops when it closes (ComfyUI backends). */
  stopOnClose: ReadonlyArray<{ stop(): Promise<void> }>;
}

/** What opening the machine needs. */
export interface LocalMachineContext {
  catalog: Catalog;
  clock: Clock;
  dataDir: string;
  estimation: PlannerConfig['estimation'];
  random?: () => number;
  /** Backends given instead of the configured ones (tests, the simulator). */
  backends?: Backend[];
}

/** Opens the models directory, starts the ComfyUI backends, or builds the simulated GPU when there are none. */
export async function openLocalMachine(config: UnderstudyConfig, ctx: LocalMachineContext): Promise<LocalMachine> {
  const { catalog, clock, dataDir } = ctx;
  const random = ctx.random ? { random: ctx.random } : {};
  const files = config.modelFiles ? await openModelFiles(config.modelFiles, { catalog, clock, dataDir, ...random }) : undefined;
  const comfy = await openComfyUi(config, { clock, models: catalog.models, ...random });
  await Promise.all(comfy.map((b) => b.start()));
  const presence = new ModelFilePresence(files);
  await presence.refresh();
  const simulatedBytesPerSecond = config.simulated.downloadMiBPerSecond * 1024 ** 2;
  const backends: readonly Backend[] = ctx.backends ??
    (comfy.length > 0 ? comfy : undefined) ?? [
      new SimulatedBackend(
        {
          vramGb: config.simulated.vramGb,
          slots: config.simulated.slots,
          models: [...catalog.models],
          installed: config.simulated.installedModels,
          downloadBytesPerSecond: simulatedBytesPerSecond,
          timeScale: config.simulated.timeScale,
          estimation: ctx.estimation,
          faultProbabilities: config.simulated.faultProbabilities,
        },
        {
          clock,
          filesPresent: presence.models,
          // Downloads share one link, as on a real connection (the estimates assume so).
          link: new SimulatedLink(simulatedBytesPerSecond / config.simulated.timeScale, clock),
          ...random,
        },
      ),
    ];
  return { backends, ...(files ? { files } : {}), presence, stopOnClose: comfy };
}

/** The models directory of `modelFiles`, its CA file read and checked. */
async function openModelFiles(
  options: NonNullable<UnderstudyConfig['modelFiles']>,
  context: Pick<Parameters<typeof ModelFiles.open>[0], 'catalog' | 'clock' | 'dataDir' | 'random'>,
): Promise<ModelFiles> {
  return ModelFiles.open({
    ...context,
    directory: { root: resolve(options.dir), layout: options.layout },
    downloader: {
      ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
      ...(options.maxFileBytes ? { maxFileBytes: options.maxFileBytes } : {}),
      ...(options.maxConcurrent ? { maxConcurrent: options.maxConcurrent } : {}),
      ...(options.connections ? { connections: options.connections } : {}),
      ...(options.connectionsPerHost ? { connectionsPerHost: options.connectionsPerHost } : {}),
      ...(options.caFile ? { caCertificates: await readCaFile(options.caFile) } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
    },
  });
}

/** One backend per `comfyui` entry; a bad entry or a repeated id fails naming its place in the config. */
async function openComfyUi(config: UnderstudyConfig, deps: Parameters<typeof ComfyUiBackend.create>[1]): Promise<ComfyUiBackend[]> {
  const comfy = await Promise.all(
    config.comfyui.map((entry, index) =>
      ComfyUiBackend.create(entry as ComfyUiConfigInput, deps).catch((error: unknown) => {
        if (isValidationError(error)) throw new ValidationError('config', error.issues.map((i) => ({ ...i, field: `comfyui[${index}].${i.field}` })));
        throw error;
      }),
    ),
  );
  const ids = new Set<string>();
  for (const [index, backend] of comfy.entries()) {
    if (ids.has(backend.id)) throw new ValidationError('config', [{ field: `comfyui[${index}].id`, problem: 'expected an id no other backend has', received: backend.id }]);
    ids.add(backend.id);
  }
  return comfy;
}
