/**
 * Fault injection for the simulated backend: a script of faults for the next jobs (optionally only jobs of one
 * model), and faults drawn at random with given probabilities from an injectable random source, so runs repeat.
 */
import { z } from 'zod';
import { parseOrThrow } from '../core/validation.js';

/**
 * What can go wrong in a simulated job:
 * - `oom`: CUDA runs out of memory mid-sampling (the job fails, the pipeline keeps working);
 * - `crash`: the pipeline process exits, failing every running job and every later one until it is restarted;
 * - `hang`: the job stops making progress and never finishes until aborted;
 * - `load_failure`: loading the model's weights fails (the model is reloaded for the job, and the load fails).
 */
export const FAULT_KINDS = ['oom', 'crash', 'hang', 'load_failure'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** When during sampling each kind strikes unless the script says otherwise, as a fraction of the steps. */
export const DEFAULT_FAULT_FRACTIONS: Readonly<Record<FaultKind, number>> = { oom: 0, crash: 0.5, hang: 0.3, load_failure: 0 };

/** One scripted fault. */
export const ScriptedFaultSchema = z.object({
  kind: z.enum(FAULT_KINDS),
  /** Strike only jobs for this model; any job when omitted. */
  modelId: z.string().min(1).optional(),
  /** How many matching jobs it strikes, one after another (default 1). */
  count: z.number().int().min(1).default(1),
  /** When during sampling it strikes, as a fraction of the steps (default per kind, see DEFAULT_FAULT_FRACTIONS). */
  atFraction: z.number().min(0).max(1).optional(),
});
export type ScriptedFault = z.output<typeof ScriptedFaultSchema>;
export type ScriptedFaultInput = z.input<typeof ScriptedFaultSchema>;

const probability = z.number().min(0).max(1).default(0);

/** Chance of each fault per job (each default 0); together at most 1. */
export const FaultProbabilitiesSchema = z
  .object({ oom: probability, crash: probability, hang: probability, load_failure: probability })
  .refine((p) => p.oom + p.crash + p.hang + p.load_failure <= 1, 'expected the probabilities to add up to at most 1');
export type FaultProbabilities = z.output<typeof FaultProbabilitiesSchema>;
export type FaultProbabilitiesInput = z.input<typeof FaultProbabilitiesSchema>;

/** A fault chosen for one job. */
export interface PlannedFault {
  kind: FaultKind;
  /** When during sampling it strikes, as a fraction of the steps. */
  atFraction: number;
  /** Whether the script or a random draw chose it. */
  source: 'script' | 'probability';
}

/** Decides which fault, if any, strikes each job: the script first, then a random draw. */
export class FaultInjector {
  private script: ScriptedFault[];
  private probabilities: FaultProbabilities;

  /** @param random returns numbers in [0, 1); pass {@link seededRandom} for repeatable runs */
  constructor(
    script: readonly ScriptedFaultInput[],
    probabilities: FaultProbabilitiesInput,
    private readonly random: () => number,
  ) {
    this.script = script.map((fault, index) => parseOrThrow(ScriptedFaultSchema, fault, `scripted fault ${index}`));
    this.probabilities = parseOrThrow(FaultProbabilitiesSchema, probabilities, 'fault probabilities');
  }

  /** Adds a fault to the end of the script. */
  inject(fault: ScriptedFaultInput): void {
    this.script.push(parseOrThrow(ScriptedFaultSchema, fault, 'scripted fault'));
  }

  /** Replaces the per-job fault probabilities. */
  setProbabilities(probabilities: FaultProbabilitiesInput): void {
    this.probabilities = parseOrThrow(FaultProbabilitiesSchema, probabilities, 'fault probabilities');
  }

  /** Scripted faults not yet used up, in order. */
  pending(): ScriptedFault[] {
    return this.script.map((fault) => ({ ...fault }));
  }

  /** Forgets the rest of the script. */
  clearScript(): void {
    this.script = [];
  }

  /**
   * The fault for the next job of `modelId`: the first scripted fault that matches the model (using up one of its
   * count), else one drawn with the configured probabilities, else none. No draw is made when the script decides.
   */
  next(modelId: string): PlannedFault | undefined {
    const index = this.script.findIndex((fault) => fault.modelId === undefined || fault.modelId === modelId);
    const scripted = this.script[index];
    if (scripted) {
      if (scripted.count > 1) this.script[index] = { ...scripted, count: scripted.count - 1 };
      else this.script.splice(index, 1);
      return { kind: scripted.kind, atFraction: scripted.atFraction ?? DEFAULT_FAULT_FRACTIONS[scripted.kind], source: 'script' };
    }
    const total = FAULT_KINDS.reduce((sum, kind) => sum + this.probabilities[kind], 0);
    if (total === 0) return undefined;
    const draw = this.random();
    let threshold = 0;
    for (const kind of FAULT_KINDS) {
      threshold += this.probabilities[kind];
      if (draw < threshold) return { kind, atFraction: DEFAULT_FAULT_FRACTIONS[kind], source: 'probability' };
    }
    return undefined;
  }
}

/** A small, fast, seeded pseudo-random source (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
