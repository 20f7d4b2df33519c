// The adapter's errors carry the facts classifyFailure reads, so each ComfyUI failure lands on the right failure
// type: execution_error fields, HTTP statuses and bodies, connection codes, time limits, process exits. Also the
// VRAM the backend reports reaching the health monitor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ComfyUiClient } from '../../src/adapters/comfyui/comfyui-client.js';
import { resolveEndpoint } from '../../src/adapters/comfyui/comfyui-endpoint.js';
import { ComfyUiExecutionError, ComfyUiHttpError, connectionError, timeoutError } from '../../src/adapters/comfyui/comfyui-errors.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { DEFAULT_HEALTH_THRESHOLDS } from '../../src/core/health-assessment.js';
import { HealthMonitor } from '../../src/runtime/recovery/health-monitor.js';
import { LIMIT, ManualClock, freePort, rejection, setup } from './helpers.js';

const LABEL = 'ComfyUI at http://gpu-box:8188';

test('execution_error reports classify by exception type and message', () => {
  const cases: Array<[string, string, string]> = [
    ['torch.OutOfMemoryError', 'Allocation on device ', 'vram_exhaustion'],
    ['torch.cuda.OutOfMemoryError', 'CUDA out of memory. Tried to allocate 2.00 GiB', 'vram_exhaustion'],
    ['RuntimeError', 'HIP out of memory. Tried to allocate 1.20 GiB', 'vram_exhaustion'],
    ['safetensors_rust.SafetensorError', 'Error while deserializing header: MetadataIncompleteBuffer', 'model_loading_failure'],
    ['FileNotFoundError', "[Errno 2] No such file or directory: 'models/vae/wan2.2_vae.safetensors'", 'model_loading_failure'],
    ['RuntimeError', 'CUDA error: no kernel image is available for execution on the device', 'hardware_optimization_failure'],
    ['ValueError', 'height and width must be divisible by 16', 'generation_pipeline_error'],
    // comfy/sd.py: a wrong or truncated UNET file.
    ['RuntimeError', 'ERROR: Could not detect model type of: /ComfyUI/models/diffusion_models/wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors\n', 'model_loading_failure'],
    // DirectML (torch-directml) when the GPU is full.
    ['RuntimeError', 'Could not allocate tensor with 1073741824 bytes. There is not enough GPU video memory available!\n', 'vram_exhaustion'],
    ['RuntimeError', 'cuDNN error: CUDNN_STATUS_ALLOC_FAILED\n', 'vram_exhaustion'],
    // Windows, loading a 14B model with a small page file.
    ['OSError', '[WinError 1455] The paging file is too small for this operation to complete. Error loading "torch_cuda.dll"\n', 'system_resource_error'],
  ];
  for (const [exceptionType, exceptionMessage, expected] of cases) {
    const error = new ComfyUiExecutionError(LABEL, { prompt_id: 'p', node_id: '57', node_type: 'KSamplerAdvanced', exception_type: exceptionType, exception_message: exceptionMessage });
    assert.equal(classifyFailure(error).failureType, expected, `${exceptionType}: ${exceptionMessage}`);
  }
});

test('HTTP statuses and bodies from ComfyUI classify as the failure table says', () => {
  const cases: Array<[number, unknown, string]> = [
    [503, 'Service Unavailable', 'network_error'],
    [502, '', 'network_error'],
    [500, { error: 'torch.OutOfMemoryError: CUDA out of memory' }, 'vram_exhaustion'],
    [500, 'Internal Server Error', 'generation_pipeline_error'],
    [404, '', 'generation_pipeline_error'],
    [401, '401 Authorization Required', 'network_error'],
  ];
  for (const [status, body, expected] of cases) {
    const error = new ComfyUiHttpError(`${LABEL}: POST /prompt failed with HTTP ${status}`, status, body);
    assert.equal(classifyFailure(error).failureType, expected, `HTTP ${status} ${JSON.stringify(body)}`);
  }
});

test('a 404 (wrong prefix, missing output) and a 401 from a proxy are not retried', () => {
  for (const status of [401, 403, 404]) {
    const classification = classifyFailure(new ComfyUiHttpError(`${LABEL}: GET /view failed with HTTP ${status}`, status, ''));
    assert.equal(classification.retryable, false, `HTTP ${status}`);
    assert.notEqual(classification.failureType, 'model_loading_failure', `HTTP ${status}`);
  }
});

test('connection failures and time limits are network errors, with the system error code as evidence', LIMIT, async () => {
  const port = await freePort();
  const client = new ComfyUiClient({ endpoint: resolveEndpoint(`http://127.0.0.1:${port}`, {}, {}), clock: new ManualClock(), requestTimeoutMs: 1000, connectTimeoutMs: 1000 });
  const refused = await rejection(client.systemStats(new AbortController().signal));
  assert.match(refused.message, new RegExp(`^ComfyUI at http://127\\.0\\.0\\.1:${port}: GET /system_stats: connection failed \\(connect ECONNREFUSED`));
  assert.deepEqual(classifyFailure(refused).evidence, { rule: 'network_code', field: 'code', matched: 'ECONNREFUSED' });
  const socket = await rejection(client.openSocket('c', new AbortController().signal));
  assert.equal(classifyFailure(socket).failureType, 'network_error');

  assert.equal(classifyFailure(timeoutError(`${LABEL}: GET /queue`, 30_000)).failureType, 'network_error');
  assert.equal(timeoutError(`${LABEL}: GET /queue`, 30_000).message, `${LABEL}: GET /queue: request timed out after 30 s`);
  const reset = connectionError(`${LABEL}: GET /history`, Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }));
  assert.deepEqual(classifyFailure(reset).evidence, { rule: 'network_code', field: 'code', matched: 'UND_ERR_SOCKET' });
});

test('a request that outlives requestMs on the clock is abandoned as a network error', LIMIT, async (t) => {
  const { fake, clock, backend } = await setup(t, { timeouts: { requestMs: 5_000 } });
  fake.stalled.add('/history/p-1');
  const pending = rejection(backend.client.history('p-1', new AbortController().signal));
  await fake.waitFor(() => fake.requestsTo('GET', '/history/p-1').length === 1, 'the request to arrive');
  await clock.advance(4_999);
  await clock.advance(1);
  const error = await pending;
  assert.match(error.message, /GET \/history\/p-1: request timed out after 5 s$/);
  assert.equal(classifyFailure(error).failureType, 'network_error');
});

test("the backend's /system_stats VRAM reaches the health monitor and is assessed there", LIMIT, async (t) => {
  const { fake, clock, backend } = await setup(t, { id: 'gpu-0' }, { vram: { total: 24 * 1024 ** 3, free: 0.5 * 1024 ** 3 } });
  const probe = { read: async () => ({ cpuPercent: 10, memoryPercent: 20, diskFreeBytes: 500 * 1024 ** 3, gpus: null }) };
  const monitor = new HealthMonitor({ clock, probe, thresholds: DEFAULT_HEALTH_THRESHOLDS, vramReporter: backend });
  const status = await monitor.check();
  assert.equal(status.overallStatus, 'critical');
  assert.equal(status.vram?.device, 'gpu-0: cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync');
  assert.equal(status.vram?.totalGb, 24);
  await fake.close();
  const down = await monitor.check();
  assert.equal(down.overallStatus, 'degraded');
  assert.match(down.issues[0] ?? '', /Health could not be read: ComfyUI at .*: GET \/system_stats: connection failed/);
});
