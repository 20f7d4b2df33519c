import { EventEmitter, type Event } from 'cockatiel';
import type { Clock } from '../../core/clock.js';
import type { RecoveryAction } from '../../core/vocabulary.js';
import type { HealthMonitor } from './health-monitor.js';
import type { BreakerSnapshot, MockModeChange, RecoveryAttempt, SystemStatus, TriggeredRecovery } from './recovery-records.js';

/** Successful actions that leave the backend running below full capability. */
const DEGRADING_ACTIONS: Partial<Record<RecoveryAction, string>> = {
  enable_cpu_offload: 'CPU offload enabled',
  apply_vram_optimization: 'VRAM optimizations applied',
};

/**
 * The mode the system runs in: preview (mock) mode, the reasons it runs degraded (preview mode, degrading repairs,
 * health below healthy), and the `system_status` it announces after each change and health check.
 */
export class SystemMode {
  private mock = false;
  private readonly reasons = new Map<string, string>();
  private readonly mockModeEmitter = new EventEmitter<MockModeChange>();
  private readonly statusEmitter = new EventEmitter<SystemStatus>();
  /** Preview mode was entered or left. */
  readonly onMockModeChange: Event<MockModeChange> = this.mockModeEmitter.addListener;
  /** The system's state after each health check and each change of mode. */
  readonly onSystemStatus: Event<SystemStatus> = this.statusEmitter.addListener;

  constructor(
    private readonly clock: Clock,
    private readonly monitor: HealthMonitor,
    private readonly breakerStates: () => BreakerSnapshot[],
  ) {}

  /** Whether preview (mock) mode is active. */
  get mockModeActive(): boolean {
    return this.mock;
  }

  /** Enters preview mode (fallback_to_mock), for `reason`. */
  enterMockMode(reason: string): void {
    this.reasons.set('mock', 'preview (mock) mode active');
    if (this.mock) return;
    this.mock = true;
    this.mockModeEmitter.emit({ active: true, reason, at: this.clock.now() });
    this.announce([]);
  }

  /** Leaves preview mode, e.g. once a real backend works again. */
  exitMockMode(reason: string): void {
    if (!this.mock) return;
    this.mock = false;
    this.reasons.delete('mock');
    this.mockModeEmitter.emit({ active: false, reason, at: this.clock.now() });
    this.announce([]);
  }

  /** Keeps a successful degrading repair (CPU offload, VRAM optimizations) as a reason the system runs degraded. */
  noteAttempt(attempt: RecoveryAttempt, targetId: string | undefined): void {
    const degrades = DEGRADING_ACTIONS[attempt.action];
    if (attempt.success && degrades) this.reasons.set(`${attempt.action}:${targetId ?? ''}`, `${degrades} on ${targetId ?? 'the backend'}`);
  }

  /** Why the system runs degraded now; empty when it does not. */
  degradedReasons(): string[] {
    const reasons = [...this.reasons.values()];
    const health = this.monitor.latest;
    if (health && health.overallStatus !== 'healthy') reasons.push(`health ${health.overallStatus}: ${health.issues.join('; ')}`);
    return reasons;
  }

  /** Forgets degraded reasons and leaves preview mode. */
  reset(reason: string): void {
    this.reasons.clear();
    this.exitMockMode(reason);
  }

  /** Announces the system's state, with the recoveries a health check just triggered. */
  announce(triggered: readonly TriggeredRecovery[]): void {
    const reasons = this.degradedReasons();
    this.statusEmitter.emit({
      at: this.clock.now(),
      health: this.monitor.latest?.overallStatus ?? null,
      mockModeActive: this.mock,
      degradedMode: reasons.length > 0,
      degradedReasons: reasons,
      openBreakers: this.breakerStates().filter((b) => b.state === 'open'),
      triggered,
    });
  }
}
