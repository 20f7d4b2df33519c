import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthMonitor, type HealthProbe, type VramReporter } from '../../src/runtime/recovery/health-monitor.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { DEFAULT_HEALTH_THRESHOLDS, type SystemHealthStatus } from '../../src/core/health-assessment.js';
import { isValidationError } from '../../src/core/validation.js';
import { FakeProbe, GIB, healthyReading, readingWithVram } from './fakes.js';

function monitor(probe: HealthProbe = new FakeProbe(), vramReporter?: VramReporter) {
  const clock = new ManualClock();
  const m = new HealthMonitor({ clock, probe, thresholds: DEFAULT_HEALTH_THRESHOLDS, ...(vramReporter && { vramReporter }) });
  const seen: SystemHealthStatus[] = [];
  m.onHealthStatus((s) => seen.push(s));
  return { clock, m, seen };
}

void describe('HealthMonitor.check', () => {
  void test('converts nvidia-smi MiB into GiB and a percent', async () => {
    const { m, seen } = monitor();
    const status = await m.check();
    assert.equal(status.overallStatus, 'healthy');
    assert.deepEqual(status.vram, { device: 'GPU 0 (NVIDIA GeForce RTX 4090)', usedGb: 2, totalGb: 24 });
    assert.equal(status.vramUsagePercent, 8.33);
    assert.equal(status.gpuAvailable, true);
    assert.equal(seen.length, 1);
    assert.equal(m.latest, status);
  });

  void test('VRAM edges through the MiB conversion: 90 % healthy, 90.1 % high', async () => {
    const probe = new FakeProbe(readingWithVram(90));
    const { m } = monitor(probe);
    assert.equal((await m.check()).overallStatus, 'healthy');
    probe.reading = readingWithVram(90.1);
    assert.equal((await m.check()).overallStatus, 'degraded');
  });

  void test('backend-reported VRAM replaces nvidia-smi figures', async () => {
    const reporter: VramReporter = {
      readVram: () => Promise.resolve([{ device: 'cuda:0 NVIDIA GeForce RTX 4090', totalBytes: 24 * GIB, freeBytes: 1.5 * GIB }]),
    };
    const { m } = monitor(new FakeProbe(), reporter);
    const status = await m.check();
    assert.deepEqual(status.vram, { device: 'cuda:0 NVIDIA GeForce RTX 4090', usedGb: 22.5, totalGb: 24 });
    assert.equal(status.vramUsagePercent, 93.75);
    assert.equal(status.overallStatus, 'degraded');
  });

  void test('a reporter with nothing to say falls back to nvidia-smi', async () => {
    const { m } = monitor(new FakeProbe(), { readVram: () => Promise.resolve(null) });
    assert.equal((await m.check()).vramUsagePercent, 8.33);
  });

  void test('no nvidia-smi and no reporter: no GPU, critical for a GPU backend', async () => {
    const { m } = monitor(new FakeProbe({ ...healthyReading(), gpus: null, gpuProblem: 'nvidia-smi not found' }));
    const status = await m.check();
    assert.equal(status.gpuAvailable, false);
    assert.equal(status.vram, null);
    assert.equal(status.overallStatus, 'critical');
    assert.deepEqual(status.issues, ['No GPU available: nvidia-smi not found']);
  });

  void test('a probe that throws gives a degraded status saying so', async () => {
    const { m } = monitor({ read: () => Promise.reject(new Error('statfs failed')) });
    const status = await m.check();
    assert.equal(status.overallStatus, 'degraded');
    assert.deepEqual(status.issues, ['Health could not be read: statfs failed']);
  });
});

void describe('HealthMonitor periodic checks', () => {
  void test('checks at once, then every interval on the clock, until stopped', async () => {
    const probe = new FakeProbe();
    const { clock, m } = monitor(probe);
    const handled: number[] = [];
    const start = clock.now();
    m.start(60_000, (s) => {
      handled.push(s.lastCheckTimestamp - start);
      return Promise.resolve();
    });
    assert.equal(m.running, true);
    await clock.flush();
    assert.deepEqual(handled, [0]);
    await clock.advance(59_999);
    assert.equal(probe.reads, 1);
    await clock.advance(1);
    await clock.advance(120_000);
    assert.deepEqual(handled, [0, 60_000, 120_000, 180_000]);
    m.stop();
    assert.equal(m.running, false);
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(600_000);
    assert.equal(probe.reads, 4);
  });

  void test('the next check waits for the handler to finish', async () => {
    const probe = new FakeProbe();
    const { clock, m } = monitor(probe);
    let release = (): void => undefined;
    m.start(1_000, () => new Promise<void>((resolve) => (release = resolve)));
    await clock.flush();
    await clock.advance(5_000);
    assert.equal(probe.reads, 1, 'no overlap while the handler runs');
    release();
    await clock.advance(1_000);
    assert.equal(probe.reads, 2);
    m.stop();
  });

  void test('a non-positive interval is an argument error', () => {
    const { m } = monitor();
    assert.throws(() => m.start(0, () => Promise.resolve()), (e: unknown) => isValidationError(e) && /intervalMs/.test(e.message));
  });
});
