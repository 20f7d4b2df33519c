import type { Event } from 'cockatiel';
import type { AvailabilitySource, ModelStatus } from '../core/availability.js';

/** One model's files after a full check. */
export interface VerifiedModel {
  status: ModelStatus;
  files: Array<{ path: string; status: string; bytesPresent: number; bytesTotal: number; verified: boolean; detail?: string }>;
}

/**
 * Port: a models directory Understudy manages itself (downloads, verification), for the catalog models that list
 * their files. Its availability outranks what backends report for those models.
 */
/** A download's progress, as a models directory reports it. */
export interface ModelFileProgress {
  /** The model the file belongs to, when the catalog says. */
  readonly modelId?: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** Smoothed speed, bytes per second; undefined before the first sample. */
  readonly bytesPerSecond?: number;
  /** Seconds left at that speed. */
  readonly etaSeconds?: number;
  /** Epoch ms of the sample. */
  readonly at: number;
}

export interface ModelFileStore extends AvailabilitySource {
  /** Progress of every file download. */
  readonly onProgress: Event<ModelFileProgress>;
  /** Whether the catalog lists files for `modelId`. */
  manages(modelId: string): boolean;
  /** Downloads every missing or incomplete file of the model; resolves once all are verified. */
  ensureModelDownloaded(modelId: string, signal?: AbortSignal): Promise<Array<{ bytes: number; reused: boolean }>>;
  /** Checks every file of the model by sha256. */
  verify(modelId: string, signal?: AbortSignal): Promise<VerifiedModel>;
}
