import { z } from 'zod';
import { EstimationConfigSchema } from '../core/estimates.js';
import { DownloaderOptionsSchema, RequestHeadersSchema } from '../adapters/model-files/downloader.js';
import { isRedisStoreUrl } from '../adapters/redis/redis-connection.js';

/** What a `store` value must look like, for error messages. */
export const STORE_URL_FORMAT = 'redis://[user[:password]@]host[:port][/db] or rediss://… (absent: the embedded SQLite file in dataDir)';

/** Everything `createUnderstudy` can be configured with; every key has a documented default. */
export const UnderstudyConfigSchema = z.strictObject({
  /** Where the SQLite file, outputs and input images live (default `./data`). */
  dataDir: z.string().min(1).default('./data'),
  /**
   * Where jobs live: absent for the embedded SQLite file in `dataDir` (one machine, in-process workers); a Redis URL
   * for gateways and workers on several machines (docs/distributed.md). The password never appears in a log or error.
   */
  store: z.string().refine(isRedisStoreUrl, { message: `expected ${STORE_URL_FORMAT}` }).optional(),
  /** The Redis store's settings (used only with a `store` URL). */
  redis: z
    .strictObject({
      /** Prefix of every key, so that several deployments (or tests) share one Redis (default `understudy`). */
      prefix: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'expected 1 to 64 letters, digits, _ . : or -').default('understudy'),
      /**
       * Start on a Redis that can lose accepted jobs (no AOF, `appendfsync` not `always`, an evicting policy): for
       * demos only; said in the log and in /readyz (default false; flag --allow-volatile-redis).
       */
      allowVolatile: z.boolean().default(false),
    })
    .prefault({}),
  /** With a Redis store: whether a gateway also runs jobs on its own backends (default true; flag --no-worker). */
  localWorker: z.boolean().default(true),
  /** Names this process among workers and in job leases (default host name + pid; flag --id of `understudy worker`). */
  workerId: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'expected 1 to 100 letters, digits, _ . : or -').optional(),
  /** Input images and outputs. */
  artifacts: z
    .strictObject({
      /**
       * Their root directory (default `dataDir`); job records hold paths relative to it. Gateways and workers on
       * several machines need it on a shared mount (NFS, SMB, ...), the same directory everywhere.
       */
      dir: z.string().min(1).optional(),
    })
    .prefault({}),
  /** Most jobs waiting at once (default 100). */
  maxQueueSize: z.number().int().min(1).max(1_000_000).default(100),
  /** A catalog file (JSON or YAML) merged over the built-in Wan2.2 models. */
  catalogFile: z.string().optional(),
  /** Planner weights, tables, thresholds and policies (default: the reference's). */
  planner: z.record(z.string(), z.unknown()).default({}),
  /** Recovery chains, cooldowns, attempt budget and breakers (default: the reference's). */
  recovery: z.record(z.string(), z.unknown()).default({}),
  jobs: z
    .strictObject({
      /** How long a claim lasts unless renewed, ms (default 15 000). */
      leaseMs: z.number().int().min(100).default(15_000),
      /** Runs a job gets (default 3). */
      maxAttempts: z.number().int().min(1).max(20).default(3),
      /** Seconds of waiting that raise a job one priority level; 0 turns aging off (default 600). */
      agingSeconds: z.number().min(0).default(600),
      /** Days finished jobs are kept (default 7). */
      retentionDays: z.number().positive().default(7),
      /** Seconds without progress after which a generation is presumed hung and fails as a pipeline error (default 300). */
      stallSeconds: z.number().positive().default(300),
    })
    .prefault({}),
  scheduling: z
    .strictObject({
      /** Prefer jobs for the model already loaded (default true). */
      affinity: z.boolean().default(true),
      /** Most equal-priority jobs affinity may pass (default 3). */
      affinityMaxSkip: z.number().int().min(0).default(3),
      /** Model-aware dispatch (core/model-spread.ts): GPUs keep distinct models loaded and move only to a model no GPU serves (default true). */
      modelSpread: z.boolean().default(true),
      /** Housekeeping period, ms (default 1000). */
      tickMs: z.number().int().min(10).default(1000),
    })
    .prefault({}),
  /**
   * ComfyUI servers to run generations on, one backend each (see docs/comfyui.md). When given, they replace the
   * simulated GPU.
   */
  comfyui: z.array(z.record(z.string(), z.unknown())).default([]),
  /** The simulated GPU: the embedded default backend, a demo of every failure path. */
  simulated: z
    .strictObject({
      /** GPU memory, GiB (default 24). */
      vramGb: z.number().positive().default(24),
      /** Jobs at once (default 1). */
      slots: z.number().int().min(1).default(1),
      /** Models installed at start (default ti2v-5B only; the others download when needed). */
      installedModels: z.array(z.string()).default(['ti2v-5B']),
      /** Simulated download speed, MiB/s (default 50). */
      downloadMiBPerSecond: z.number().positive().default(50),
      /** Multiplies every simulated duration (default 0.02: a 120 s reference job takes 2.4 s). */
      timeScale: z.number().positive().default(0.02),
      /** Chance of each fault per job, 0 to 1 (default none). */
      faultProbabilities: z.record(z.string(), z.number().min(0).max(1)).default({}),
    })
    .prefault({}),
  /** Request limits. */
  limits: z
    .strictObject({
      /** Longest prompt, characters (default 4000). */
      maxPromptLength: z.number().int().positive().default(4000),
      /** Largest input image, bytes (default 10 MiB). */
      maxImageBytes: z.number().int().positive().default(10 * 1024 * 1024),
    })
    .prefault({}),
  /**
   * A models directory whose files Understudy downloads and verifies itself, for catalog models that list files
   * (default none: the backends report availability).
   */
  modelFiles: z
    .strictObject({
      /** The models directory. */
      dir: z.string().min(1),
      /** `flat`, or `comfyui` for ComfyUI's models/diffusion_models, models/vae, ... (default flat). */
      layout: z.enum(['flat', 'comfyui']).default('flat'),
      /** Only these hosts may be downloaded from (default any). */
      allowedHosts: z.array(z.string().min(1)).min(1).optional(),
      /** Largest file accepted, bytes (default 256 GiB). */
      maxFileBytes: z.number().int().positive().optional(),
      /** Downloads at once (default 2). */
      maxConcurrent: z.number().int().min(1).max(32).optional(),
      /** Connections per file for servers that answer Range (default 4; 1 downloads each file over one connection). */
      connections: z.number().int().min(1).max(16).optional(),
      /** `connections` for particular hosts (`host` or `*.domain`), e.g. `{ "mirror.lan": 1 }`. */
      connectionsPerHost: z.record(z.string().min(1), z.number().int().min(1).max(16)).optional(),
      /** A PEM file of CA certificates trusted for https beside the bundled roots, e.g. a private mirror's. */
      caFile: z.string().min(1).optional(),
      /**
       * Extra request headers for downloads, e.g. `{ authorization: "Bearer hf_..." }` for gated models; credentials
       * are not sent on when a redirect leaves the first URL's origin.
       */
      headers: RequestHeadersSchema.optional(),
      /** An http proxy for downloads (default: HTTPS_PROXY / HTTP_PROXY from the environment, minus NO_PROXY). */
      proxy: DownloaderOptionsSchema.shape.proxy,
    })
    .optional(),
  /** Health monitoring period, seconds; 0 turns it off (default 60). */
  healthIntervalSeconds: z.number().min(0).default(60),
});
export type UnderstudyConfig = z.output<typeof UnderstudyConfigSchema>;
export type UnderstudyConfigInput = z.input<typeof UnderstudyConfigSchema>;

/**
 * On the simulated GPU, generations and downloads run `timeScale` times faster than their simulated figures: unless
 * the planner is told otherwise, it assumes the same (for the time a job ahead takes, too), so the demo's estimates
 * are honest from the first request.
 */
export function withSimulatedSpeeds(config: UnderstudyConfig, simulated: boolean): Record<string, unknown> {
  const estimation = (config.planner.estimation ?? {}) as Record<string, unknown>;
  if (!simulated) return config.planner;
  const scale = config.simulated.timeScale;
  return {
    ...config.planner,
    estimation: {
      downloadBytesPerSecond: (config.simulated.downloadMiBPerSecond * 1024 ** 2) / scale,
      generationSpeedFactor: scale,
      secondsPerQueuePosition: EstimationConfigSchema.parse({}).secondsPerQueuePosition * scale,
      ...estimation,
    },
  };
}
