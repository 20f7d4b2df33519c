/**
 * Files in and out of ComfyUI: which of a prompt's saved files is the job's output and its media type, and the name
 * and type an input image is uploaded under.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { outputFileName, type GenerationImage } from '../../runtime/backend.js';
import type { OutputFile } from './comfyui-messages.js';

/** Output extensions in order of preference (a video over a still), with their media types. */
const OUTPUT_MEDIA_TYPES: ReadonlyArray<readonly [string, string]> = [
  ['mp4', 'video/mp4'],
  ['webm', 'video/webm'],
  ['mkv', 'video/x-matroska'],
  ['mov', 'video/quicktime'],
  ['webp', 'image/webp'],
  ['gif', 'image/gif'],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
];

/** Extensions of uploaded images by media type. */
const IMAGE_EXTENSIONS: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'image/bmp': 'bmp' };

/** The file to keep among a prompt's saved files: the first video, else the first animation or image. */
export function pickOutput(files: readonly OutputFile[]): OutputFile | undefined {
  for (const [extension] of OUTPUT_MEDIA_TYPES) {
    const file = files.find((f) => extname(f.filename).slice(1).toLowerCase() === extension && f.type === 'output');
    if (file) return file;
  }
  return files.find((f) => f.type === 'output') ?? files[0];
}

/** The media type of an output extension (`mp4` → `video/mp4`), when it is one ComfyUI saves. */
export function mediaTypeOf(extension: string): string | undefined {
  return OUTPUT_MEDIA_TYPES.find(([known]) => known === extension)?.[1];
}

/** An input image as POST /upload/image takes it. */
export interface ImageUpload {
  readonly bytes: Uint8Array;
  /** `understudy-<job id>-<8 hex>.<ext>`: unique, so uploads never overwrite one another. */
  readonly name: string;
  readonly mediaType: string;
}

/** Reads `image` (bytes or a file) and names it for upload. */
export async function imageUpload(image: GenerationImage, jobId: string): Promise<ImageUpload> {
  const bytes = 'path' in image ? new Uint8Array(await readFile(image.path)) : image.bytes;
  const fromPath = 'path' in image ? extname(image.path).slice(1).toLowerCase() : '';
  const mediaType = ('mediaType' in image && image.mediaType) || mediaTypeOf(fromPath) || 'image/png';
  const extension = IMAGE_EXTENSIONS[mediaType] ?? (fromPath || 'png');
  return { bytes, name: outputFileName(`understudy-${jobId}-${randomUUID().slice(0, 8)}`, extension), mediaType };
}
