/**
 * The preview backend behind mock_generation: renders at once, on the CPU, a small animated GIF that shows what was
 * asked for. Its output is always labelled a preview, in the result (`isPreview: true`) and in the image itself
 * (the word PREVIEW on every frame), so nobody mistakes it for a real generation.
 */
import { z } from 'zod';
import type { ModelStatus } from '../core/availability.js';
import type { Clock } from '../core/clock.js';
import { parseResolution } from '../core/requirements.js';
import { parseOrThrow } from '../core/validation.js';
import {
  abortError,
  outputFileName,
  type Backend,
  type GeneratedOutput,
  type GenerationControl,
  type GenerationRequest,
} from '../runtime/backend.js';
import { writeOutputAtomically } from './output-file.js';
import type { TargetHealth } from '../runtime/recovery/recovery-target.js';
import { renderTextGif, wrapText } from './gif-writer.js';

/** The word drawn on every preview frame. */
export const PREVIEW_LABEL = 'PREVIEW';

/** Options of the preview backend; every field has the documented default. */
export const PreviewBackendOptionsSchema = z.object({
  /** Names the backend (default `preview`). */
  id: z.string().min(1).default('preview'),
  /** Previews rendered at once (default 4). */
  slots: z.number().int().min(1).max(64).default(4),
  /** Width in pixels; the height follows the requested aspect ratio (default 160). */
  width: z.number().int().min(64).max(640).default(160),
  /** Most frames drawn (default 6). */
  maxFrames: z.number().int().min(1).max(64).default(6),
  /** Frames a request stands for when it does not say (default 16, the reference count). */
  defaultFrames: z.number().int().min(1).default(16),
  /** Milliseconds per frame (default 300). */
  frameDelayMs: z.number().int().min(10).max(10_000).default(300),
});
export type PreviewBackendOptions = z.output<typeof PreviewBackendOptionsSchema>;
export type PreviewBackendOptionsInput = z.input<typeof PreviewBackendOptionsSchema>;

/** A backend that renders labelled previews for any model, instantly and without a GPU. */
export class PreviewBackend implements Backend {
  readonly id: string;
  readonly slots: number;
  private readonly options: PreviewBackendOptions;
  private readonly clock: Clock;

  /**
   * @param dependencies.clock measures durations
   * @throws ValidationError naming the bad option
   */
  constructor(options: PreviewBackendOptionsInput, dependencies: { clock: Clock }) {
    this.options = parseOrThrow(PreviewBackendOptionsSchema, options, 'preview backend options');
    this.clock = dependencies.clock;
    this.id = this.options.id;
    this.slots = this.options.slots;
  }

  async generate(request: GenerationRequest, control: GenerationControl): Promise<GeneratedOutput> {
    const startedAt = this.clock.now();
    if (control.signal.aborted) throw abortError(control.signal);
    const gif = this.render(request);
    const path = await writeOutputAtomically(request.outputDir, outputFileName(`${request.jobId}.preview`, 'gif', request.attempt), gif);
    control.onProgress(1, 'preview rendered');
    return { path, mediaType: 'image/gif', sizeBytes: gif.length, isPreview: true, durationMs: this.clock.now() - startedAt };
  }

  /** A preview needs no models in memory. */
  async loadedModels(): Promise<string[]> {
    return [];
  }

  /** No GPU. */
  async vram(): Promise<null> {
    return null;
  }

  /** A preview needs no model files, so there is nothing to report. */
  async installedModels(): Promise<ModelStatus[]> {
    return [];
  }

  /** Always healthy: rendering needs nothing but the CPU and the output directory. */
  async checkHealth(signal: AbortSignal): Promise<TargetHealth> {
    if (signal.aborted) throw abortError(signal);
    return { healthy: true };
  }

  private render(request: GenerationRequest): Uint8Array {
    const { width, maxFrames, defaultFrames, frameDelayMs } = this.options;
    const { resolution, quality } = request.settings;
    const size = parseResolution(resolution);
    const height = Math.max(48, Math.min(4 * width, Math.round((width * size.height) / size.width)));
    const requestedFrames = request.settings.numFrames ?? defaultFrames;
    const count = Math.min(requestedFrames, maxFrames);
    const prompt = wrapText(request.prompt || '(no prompt)', width, 2);
    const frames = Array.from({ length: count }, (_, i) => {
      const frame = count === 1 ? 1 : Math.round((i * (requestedFrames - 1)) / (count - 1)) + 1;
      return [...prompt, `as ${request.modelId}`, `${resolution} ${quality}`, `frame ${frame}/${requestedFrames}`];
    });
    return renderTextGif({ width, height, frames, frameDelayMs, banner: PREVIEW_LABEL });
  }
}
