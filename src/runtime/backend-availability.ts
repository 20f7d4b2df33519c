import type { AvailabilitySnapshot, AvailabilitySource, ModelStatus } from '../core/availability.js';
import type { ModelAvailability } from '../core/vocabulary.js';
import type { Backend } from './backend.js';
import type { ModelFileStore } from './model-file-store.js';

/** Which statuses say more about a model being usable soon: a model available anywhere is available. */
const STATUS_ORDER: readonly ModelAvailability[] = ['available', 'verifying', 'downloading', 'partial', 'paused', 'corrupted', 'failed', 'missing', 'unknown'];

/**
 * Availability from what the backends report (the best status any backend has for each model); for models whose
 * files Understudy manages itself, what is on disk decides.
 */
export class BackendAvailability implements AvailabilitySource {
  constructor(
    private readonly backends: readonly Backend[],
    private readonly files?: ModelFileStore,
  ) {}

  async snapshot(): Promise<AvailabilitySnapshot> {
    const merged = new Map<string, ModelStatus>();
    if (this.files) {
      for (const [modelId, status] of await this.files.snapshot()) if (this.files.manages(modelId)) merged.set(modelId, status);
    }
    const reports = await Promise.all(this.backends.map((b) => b.installedModels()));
    for (const statuses of reports) {
      for (const status of statuses) {
        if (this.files?.manages(status.modelId)) continue;
        const current = merged.get(status.modelId);
        if (!current || STATUS_ORDER.indexOf(status.status) < STATUS_ORDER.indexOf(current.status)) merged.set(status.modelId, status);
      }
    }
    return merged;
  }

  /** Ids of the models `backend` can run now. */
  async readyOn(backend: Backend): Promise<Set<string>> {
    return new Set((await backend.installedModels()).filter((s) => s.status === 'available').map((s) => s.modelId));
  }
}
