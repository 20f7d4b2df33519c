import type { ModelAvailability } from './vocabulary.js';

/** What is known about one model's files right now. */
export interface ModelStatus {
  modelId: string;
  status: ModelAvailability;
  /** Bytes of the model's files present and complete on disk. */
  bytesPresent?: number;
  /** Bytes the model's files take in all. */
  bytesTotal?: number;
  /** Measured speed of the download under way, bytes per second. */
  downloadBytesPerSecond?: number;
  /** Why the model is corrupted or failed, in plain words. */
  detail?: string;
  /** Epoch milliseconds of the last change. */
  updatedAt?: number;
}

/** Statuses by model id; a model without an entry is `unknown`. */
export type AvailabilitySnapshot = ReadonlyMap<string, ModelStatus>;

/** Port: where the planner learns which models can run. Implemented by the model-files scanner and backends. */
export interface AvailabilitySource {
  /** Current status of every model the source knows about. */
  snapshot(): AvailabilitySnapshot | Promise<AvailabilitySnapshot>;
}

/** Status of `modelId` in `snapshot`, `unknown` when absent. */
export function statusOf(snapshot: AvailabilitySnapshot, modelId: string): ModelStatus {
  return snapshot.get(modelId) ?? { modelId, status: 'unknown' };
}

/** An availability source over a fixed map, for tests, demos and backends that report statuses directly. */
export class StaticAvailability implements AvailabilitySource {
  private readonly statuses = new Map<string, ModelStatus>();

  constructor(statuses: Iterable<ModelStatus> = []) {
    for (const s of statuses) this.statuses.set(s.modelId, s);
  }

  /** Replaces the status of one model. */
  set(status: ModelStatus): void {
    this.statuses.set(status.modelId, status);
  }

  snapshot(): AvailabilitySnapshot {
    return new Map(this.statuses);
  }
}
