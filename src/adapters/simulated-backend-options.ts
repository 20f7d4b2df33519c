/** The simulated GPU's options, their defaults, and what it is given and announces. */
import type { SimulatedLink } from './simulated-link.js';
import { z } from 'zod';
import { DEFAULT_MODELS, ModelDescriptorSchema } from '../core/catalog.js';
import type { Clock } from '../core/clock.js';
import { EstimationConfigSchema } from '../core/estimates.js';
import { OFFLOAD_MODES, type OffloadMode } from '../core/recovery-policy.js';
import { FaultProbabilitiesSchema, ScriptedFaultSchema, type PlannedFault } from './simulated-faults.js';

/** How one offload mode (or the VRAM optimisation) changes a job: VRAM and time multipliers. */
export const SpeedMemoryTradeSchema = z.object({
  /** Multiplies the VRAM a job needs, at most 1. */
  vramFactor: z.number().positive().max(1),
  /** Multiplies the time a job takes, at least 1. */
  timeFactor: z.number().min(1),
});
export type SpeedMemoryTrade = z.infer<typeof SpeedMemoryTradeSchema>;

/** The default VRAM and time factors of each offload mode. */
export const DEFAULT_OFFLOAD_TRADES: Readonly<Record<OffloadMode, SpeedMemoryTrade>> = {
  none: { vramFactor: 1, timeFactor: 1 },
  model: { vramFactor: 0.6, timeFactor: 1.5 },
  sequential: { vramFactor: 0.35, timeFactor: 3 },
  lowvram: { vramFactor: 0.5, timeFactor: 2 },
  novram: { vramFactor: 0.25, timeFactor: 4 },
};

/** Options of the simulated backend; every field has the documented default. */
export const SimulatedBackendOptionsSchema = z
  .object({
    /** Names the backend (default `simulated-gpu`). */
    id: z.string().min(1).default('simulated-gpu'),
    /** GPU memory in GiB (default 24). */
    vramGb: z.number().positive().default(24),
    /** Jobs that run at once (default 1); further jobs wait for a slot. */
    slots: z.number().int().min(1).max(64).default(1),
    /** Models the GPU can run (default the three Wan2.2 models). */
    models: z.array(ModelDescriptorSchema).min(1).default(() => [...DEFAULT_MODELS]),
    /** Ids of the models whose files are installed (default every model). */
    installed: z.array(z.string()).optional(),
    /** VRAM and time estimation; pass the planner's config so profiles match (default the reference figures). */
    estimation: EstimationConfigSchema.prefault({}),
    /** Load throughput from disk into VRAM, GiB per second (default 2: a 14 GB model loads in 7 s). */
    loadGbPerSecond: z.number().positive().default(2),
    /** Seconds to unload one model (default 1). */
    unloadSeconds: z.number().min(0).default(1),
    /** Seconds a pipeline restart takes (default 20). */
    restartSeconds: z.number().min(0).default(20),
    /** Seconds freeGpuMemory takes (default 0.5). */
    freeMemorySeconds: z.number().min(0).default(0.5),
    /** Download throughput of ensureModelDownloaded in simulated bytes per second (default 50 MiB/s). */
    downloadBytesPerSecond: z.number().positive().default(50 * 1024 ** 2),
    /** Multiplies every duration; 0.02 makes a 120 s reference job take 2.4 s of clock time (default 1). */
    timeScale: z.number().positive().default(1),
    /** Offload mode at start (default `none`). */
    offloadMode: z.enum(OFFLOAD_MODES).default('none'),
    /** Overrides of {@link DEFAULT_OFFLOAD_TRADES}, per mode. */
    offloadTrades: z.partialRecord(z.enum(OFFLOAD_MODES), SpeedMemoryTradeSchema).default({}),
    /** What applyVramOptimization (tiled VAE decoding, attention slicing) does (default VRAM ×0.8, time ×1.15). */
    vramOptimization: SpeedMemoryTradeSchema.default({ vramFactor: 0.8, timeFactor: 1.15 }),
    /** Whether VRAM optimisations are on at start (default false). */
    vramOptimized: z.boolean().default(false),
    /** Share of a model's base VRAM its weights hold while it is loaded, before offload (default 0.5). */
    residentShare: z.number().min(0).max(1).default(0.5),
    /** VRAM the running pipeline process holds for its CUDA context, GiB (default 0.5). */
    contextVramGb: z.number().min(0).default(0.5),
    /** Share of a finished job's working memory left as fragmented cache until freeGpuMemory (default 0.05). */
    fragmentationShare: z.number().min(0).max(1).default(0.05),
    /** Faults for the next jobs, in order (default none). */
    faultScript: z.array(ScriptedFaultSchema).default([]),
    /** Chance of each fault per job (default 0 each). */
    faultProbabilities: FaultProbabilitiesSchema.prefault({}),
    /** The GIF each job writes. */
    output: z
      .object({
        /** Width in pixels; the height follows the requested aspect ratio (default 160, so 160x90 for 16:9). */
        width: z.number().int().min(32).max(640).default(160),
        /** Most frames drawn, sampled evenly from the requested frames (default 8). */
        maxFrames: z.number().int().min(1).max(64).default(8),
        /** Milliseconds per frame (default 250). */
        frameDelayMs: z.number().int().min(10).max(10_000).default(250),
      })
      .prefault({}),
  })
  .superRefine((options, ctx) => {
    const ids = new Set<string>();
    options.models.forEach((model, index) => {
      if (ids.has(model.id)) ctx.addIssue({ code: 'custom', path: ['models', index, 'id'], message: 'expected a unique model id' });
      ids.add(model.id);
    });
    options.installed?.forEach((id, index) => {
      if (!ids.has(id)) ctx.addIssue({ code: 'custom', path: ['installed', index], message: `expected one of ${[...ids].join(', ')}` });
    });
  });
export type SimulatedBackendOptions = z.output<typeof SimulatedBackendOptionsSchema>;
export type SimulatedBackendOptionsInput = z.input<typeof SimulatedBackendOptionsSchema>;

/** What the simulated backend needs besides options. */
export interface SimulatedBackendDependencies {
  /** All simulated time passes on this clock. */
  clock: Clock;
  /** Source of [0, 1) numbers for probability faults (default Math.random; see seededRandom). */
  random?: () => number;
  /** Models whose real files another component (the model files store) reports complete count as installed. */
  filesPresent?: { has(modelId: string): boolean };
  /**
   * A link downloads share (several backends may share one); when given, downloads go through it at its speed in
   * clock time instead of at `downloadBytesPerSecond` each.
   */
  link?: SimulatedLink;
}

/** Announced when a fault strikes a job. */
export interface InjectedFaultEvent extends PlannedFault {
  backendId: string;
  jobId: string;
  modelId: string;
  at: number;
}
