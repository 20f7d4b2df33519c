/**
 * How a file is split into byte ranges fetched over parallel connections, and the small sidecar file next to the
 * `.part` that records how far each range got, so that a download resumed after a crash or a pause fetches only what
 * is missing.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { ModelFile } from '../../core/catalog.js';

/** The sidecar of `<file>.part` is `<file>.part.segments`. */
export const SEGMENTS_SUFFIX = '.segments';

/** Largest segment: a retried or resumed segment refetches at most what it had not written, within this. */
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/** One byte range of the file: `[start, end)`, of which the first `done` bytes are written. */
export interface Segment {
  readonly start: number;
  readonly end: number;
  done: number;
}

/** Whether every byte of `segment` is written. */
export function isComplete(segment: Segment): boolean {
  return segment.start + segment.done >= segment.end;
}

/**
 * Splits a file of `size` bytes for `connections` connections: segments of at least `minSegmentBytes` (a file under
 * twice that is one segment) and at most 64 MiB, about `size / connections` for smaller files. One connection, or
 * one segment, is the whole file.
 */
export function planSegments(size: number, connections: number, minSegmentBytes: number): Segment[] {
  if (connections < 2 || size < 2 * minSegmentBytes) return [{ start: 0, end: size, done: 0 }];
  const length = Math.max(minSegmentBytes, Math.min(MAX_SEGMENT_BYTES, Math.ceil(size / connections)));
  const segments: Segment[] = [];
  for (let start = 0; start < size; start += length) segments.push({ start, end: Math.min(size, start + length), done: 0 });
  return segments;
}

/** Bytes written from the start of the file without a gap: what can be hashed in order. */
export function contiguousBytes(segments: readonly Segment[]): number {
  let bytes = 0;
  for (const segment of segments) {
    bytes = segment.start + segment.done;
    if (!isComplete(segment)) break;
  }
  return bytes;
}

const RecordSchema = z.object({
  version: z.literal(1),
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** The ETag the written bytes came with, when the server sent one. */
  etag: z.string().optional(),
  /** `[start, end, done]` per segment. */
  segments: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().positive(), z.number().int().nonnegative()])).min(2),
});

/** What a sidecar holds. */
export interface SegmentRecord {
  readonly segments: Segment[];
  readonly etag?: string;
}

/**
 * The record at `path` for `file`, or undefined when there is none, it is unreadable, or it does not describe this
 * catalog entry (another size or digest) with segments that tile the file.
 */
export async function readSegmentRecord(path: string, file: ModelFile): Promise<SegmentRecord | undefined> {
  let parsed: z.infer<typeof RecordSchema>;
  try {
    parsed = RecordSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return undefined;
  }
  if (parsed.sizeBytes !== file.sizeBytes || parsed.sha256 !== file.sha256) return undefined;
  const segments = parsed.segments.map(([start, end, done]) => ({ start, end, done }));
  let expected = 0;
  for (const segment of segments) {
    if (segment.start !== expected || segment.end <= segment.start || segment.done > segment.end - segment.start) return undefined;
    expected = segment.end;
  }
  if (expected !== file.sizeBytes) return undefined;
  return { segments, ...(parsed.etag === undefined ? {} : { etag: parsed.etag }) };
}

/** Replaces the record at `path` atomically (written beside it, then renamed). */
export async function writeSegmentRecord(path: string, file: ModelFile, record: SegmentRecord): Promise<void> {
  const text = JSON.stringify({
    version: 1,
    sizeBytes: file.sizeBytes,
    sha256: file.sha256,
    ...(record.etag === undefined ? {} : { etag: record.etag }),
    segments: record.segments.map((s) => [s.start, s.end, s.done]),
  });
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** Deletes the record at `path`, if there is one. */
export async function removeSegmentRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}
