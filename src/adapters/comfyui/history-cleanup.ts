/**
 * Removes the prompts Understudy ran from ComfyUI's /history (POST /history {delete}) once their outputs are saved:
 * each record holds the whole workflow, and ComfyUI keeps up to 10000 of them in memory. ComfyUI has no route to
 * delete files, so the videos under `output/` and the uploaded images under `input/` stay (see docs/comfyui.md).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ComfyUiClient } from './comfyui-client.js';

/** Deletes finished prompts' /history records after a retention time. */
export class HistoryCleanup {
  private readonly waiting = new Map<string, TimerHandle>();

  /**
   * @param retentionMs how long a record stays after its outputs were saved: 0 deletes it at once, null keeps it
   */
  constructor(
    private readonly client: ComfyUiClient,
    private readonly clock: Clock,
    private readonly retentionMs: number | null,
  ) {}

  /** Our prompt `promptId` is finished and its outputs saved: its record goes now or after the retention time. */
  async finished(promptId: string): Promise<void> {
    if (this.retentionMs === null) return;
    if (this.retentionMs === 0) return this.remove([promptId]);
    this.waiting.set(
      promptId,
      this.clock.setTimeout(() => {
        this.waiting.delete(promptId);
        void this.remove([promptId]);
      }, this.retentionMs),
    );
  }

  /** Deletes every record still waiting for its time (at shutdown). */
  async flush(): Promise<void> {
    const ids = [...this.waiting.keys()];
    for (const timer of this.waiting.values()) this.clock.clearTimeout(timer);
    this.waiting.clear();
    if (ids.length > 0) await this.remove(ids);
  }

  /** Best effort: a record left behind costs ComfyUI memory, not Understudy a job. */
  private async remove(promptIds: string[]): Promise<void> {
    await this.client.deleteHistory(promptIds, new AbortController().signal).catch(() => undefined);
  }
}
