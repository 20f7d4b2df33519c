import type { ModelFileStore } from './model-file-store.js';

/** Which models' files are complete in the models directory, read at start and again after each download. */
export class ModelFilePresence {
  private readonly present = new Set<string>();

  /** @param files the models directory; without one no model has files present. */
  constructor(private readonly files?: ModelFileStore) {}

  /** The models whose files were complete at the last {@link refresh}. */
  get models(): ReadonlySet<string> {
    return this.present;
  }

  /** Reads the models directory again. */
  async refresh(): Promise<void> {
    if (!this.files) return;
    for (const [modelId, status] of await this.files.snapshot()) {
      if (status.status === 'available') this.present.add(modelId);
      else this.present.delete(modelId);
    }
  }
}
