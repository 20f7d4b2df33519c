import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemProbe } from '../../src/adapters/system-probe.js';

void test('reads this machine: percentages in range and the free disk of the nearest existing parent', async () => {
  const reading = await new SystemProbe({ dataDir: join(tmpdir(), 'understudy-missing', 'models'), nvidiaSmi: false }).read();
  for (const percent of [reading.cpuPercent, reading.memoryPercent]) {
    assert.ok(percent === null || (percent >= 0 && percent <= 100), `percent out of range: ${percent}`);
  }
  assert.ok(reading.diskFreeBytes !== null && reading.diskFreeBytes > 0);
  assert.equal(reading.gpus, null, 'GPU detection switched off');
  assert.equal(reading.gpuProblem, undefined);
});

void test('GPUs come from nvidia-smi; a missing binary is reported as the reason there is no GPU', async () => {
  const withGpu = await new SystemProbe({
    dataDir: tmpdir(),
    nvidiaSmi: { run: () => Promise.resolve('0, NVIDIA GeForce RTX 4090, 24564, 1317, 22859, 3, 41\n') },
  }).read();
  assert.equal(withGpu.gpus?.[0]?.memoryTotalMib, 24564);

  const withoutGpu = await new SystemProbe({ dataDir: tmpdir(), nvidiaSmi: { binary: '/nonexistent/bin/nvidia-smi' } }).read();
  assert.equal(withoutGpu.gpus, null);
  assert.equal(withoutGpu.gpuProblem, 'nvidia-smi not found');
});
