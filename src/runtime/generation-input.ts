import { z } from 'zod';
import { ResolutionSchema } from '../core/catalog.js';
import { PRIORITIES, QUALITIES, SPEEDS } from '../core/vocabulary.js';

/** Limits on what a request may carry. */
export interface GenerationInputLimits {
  /** Longest prompt, characters (default 4,000). */
  maxPromptLength: number;
  /** Largest decoded input image, bytes (default 10 MiB). */
  maxImageBytes: number;
}

export const DEFAULT_INPUT_LIMITS: GenerationInputLimits = { maxPromptLength: 4000, maxImageBytes: 10 * 1024 * 1024 };

/** Image media types accepted in a data URL. */
export const IMAGE_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;

const DATA_URL = /^data:(image\/(?:png|jpeg|webp));base64,([A-Za-z0-9+/]+={0,2})$/;

/**
 * Schema of a generation request as users send it (HTTP body, CLI, library). The same schema validates requests
 * and generates the API documentation, so the two cannot disagree.
 */
export function generationInputSchema(limits: GenerationInputLimits = DEFAULT_INPUT_LIMITS) {
  return z.strictObject({
    model: z.string().min(1).describe('Requested model id, e.g. t2v-A14B'),
    prompt: z.string().max(limits.maxPromptLength).default('').describe('Text prompt'),
    negativePrompt: z.string().max(limits.maxPromptLength).optional(),
    image: z
      .string()
      .refine((v) => DATA_URL.test(v), 'expected a data URL of a PNG, JPEG or WebP image (data:image/png;base64,...)')
      .refine((v) => decodedSize(v) <= limits.maxImageBytes, `expected an image of at most ${limits.maxImageBytes} bytes`)
      .optional()
      .describe('Input image as a data URL: PNG, JPEG or WebP'),
    resolution: ResolutionSchema.default('1280x720'),
    quality: z.enum(QUALITIES).default('medium'),
    speed: z.enum(SPEEDS).default('medium'),
    numFrames: z.number().int().min(1).max(1024).optional(),
    steps: z.number().int().min(1).max(500).optional(),
    seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
    priority: z.enum(PRIORITIES).default('normal'),
    maxWaitTimeSeconds: z
      .number()
      .positive()
      .max(7 * 24 * 3600)
      .optional()
      .describe('Longest acceptable time to the result (wait plus generation), seconds; no limit when omitted'),
    allowAlternatives: z.boolean().default(true),
    allowQualityReduction: z.boolean().default(true),
    allowMock: z.boolean().default(true),
  });
}

export type GenerationInput = z.output<ReturnType<typeof generationInputSchema>>;
export type GenerationInputDraft = z.input<ReturnType<typeof generationInputSchema>>;

/** The decoded image of a data URL: media type and bytes. */
export function decodeImageDataUrl(dataUrl: string): { mediaType: string; bytes: Buffer } {
  const match = DATA_URL.exec(dataUrl);
  if (!match) throw new Error('not an image data URL');
  return { mediaType: match[1]!, bytes: Buffer.from(match[2]!, 'base64') };
}

function decodedSize(dataUrl: string): number {
  const comma = dataUrl.indexOf(',');
  const b64 = dataUrl.length - comma - 1;
  return Math.floor((b64 * 3) / 4);
}
