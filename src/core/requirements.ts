import { z } from 'zod';
import { ResolutionSchema } from './catalog.js';
import { PRIORITIES, QUALITIES, SPEEDS, type Priority, type Quality, type Speed } from './vocabulary.js';

/** What a request needs from a model, and what the user allows the planner to change. */
export interface GenerationRequirements {
  /** Requested model id. */
  modelType: string;
  quality: Quality;
  speed: Speed;
  /** WIDTHxHEIGHT. */
  resolution: string;
  /** Whether the request carries an input image (a hard constraint on candidate models). */
  hasImage: boolean;
  /** Whether the request carries a text prompt. */
  hasText: boolean;
  /** Frames to generate; undefined means the reference count. */
  numFrames?: number;
  /** Sampling steps; undefined means the reference count. */
  steps?: number;
  /** Longest the user will wait for a result, in seconds; undefined means no limit. */
  maxWaitTimeSeconds?: number;
  allowAlternatives: boolean;
  allowQualityReduction: boolean;
  /** Whether a clearly labelled preview may stand in when nothing real can run. */
  allowMock: boolean;
  priority: Priority;
}

/** Schema of requirements as users write them; omitted fields take the documented defaults. */
export const GenerationRequirementsSchema = z.object({
  modelType: z.string().min(1),
  /** Default `medium`. */
  quality: z.enum(QUALITIES).default('medium'),
  /** Default `medium`. */
  speed: z.enum(SPEEDS).default('medium'),
  /** Default `1280x720`. */
  resolution: ResolutionSchema.default('1280x720'),
  /** Default false. */
  hasImage: z.boolean().default(false),
  /** Default true. */
  hasText: z.boolean().default(true),
  numFrames: z.number().int().min(1).max(1024).optional(),
  steps: z.number().int().min(1).max(500).optional(),
  maxWaitTimeSeconds: z.number().positive().optional(),
  /** Default true. */
  allowAlternatives: z.boolean().default(true),
  /** Default true. */
  allowQualityReduction: z.boolean().default(true),
  /** Default true. */
  allowMock: z.boolean().default(true),
  /** Default `normal`. */
  priority: z.enum(PRIORITIES).default('normal'),
});

/** Input accepted where requirements are expected: only `modelType` is required. */
export type GenerationRequirementsInput = z.input<typeof GenerationRequirementsSchema>;

/** Fills the documented defaults into partial requirements (no validation; use the schema for user input). */
export function withDefaults(input: GenerationRequirementsInput): GenerationRequirements {
  return {
    quality: 'medium',
    speed: 'medium',
    resolution: '1280x720',
    hasImage: false,
    hasText: true,
    allowAlternatives: true,
    allowQualityReduction: true,
    allowMock: true,
    priority: 'normal',
    ...stripUndefined(input),
  } as GenerationRequirements;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Parses WIDTHxHEIGHT into numbers. */
export function parseResolution(resolution: string): { width: number; height: number } {
  const [w, h] = resolution.split('x');
  return { width: Number(w), height: Number(h) };
}
