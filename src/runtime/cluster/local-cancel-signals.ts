import { EventEmitter } from 'cockatiel';
import type { CancelListener, CancelSignals } from './cancel-signals.js';

/** {@link CancelSignals} within one process (the embedded engine): a signal reaches this process's listeners at once. */
export class LocalCancelSignals implements CancelSignals {
  private readonly emitter = new EventEmitter<{ jobId: string; reason: string }>();

  signal(jobId: string, reason: string): Promise<void> {
    this.emitter.emit({ jobId, reason });
    return Promise.resolve();
  }

  onCancel(listener: CancelListener): () => void {
    const subscription = this.emitter.addListener(({ jobId, reason }) => listener(jobId, reason));
    return () => subscription.dispose();
  }
}
