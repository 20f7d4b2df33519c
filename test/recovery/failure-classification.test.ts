import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyFailure,
  compileClassificationRules,
  extractFailureFacts,
  type FailureClassification,
} from '../../src/core/failure-classification.js';
import { isValidationError } from '../../src/core/validation.js';
import type { FailureType } from '../../src/core/vocabulary.js';

function errorWithCode(message: string, code: string | number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

/** A ComfyUI `execution_error` websocket message, as recorded from a ComfyUI server. */
function comfyExecutionError(exceptionType: string, exceptionMessage: string, nodeType = 'KSampler'): unknown {
  return {
    type: 'execution_error',
    data: {
      prompt_id: '1f6a8c1e-3c4d-4b1a-9a51-0d3e7c2f9b10',
      node_id: '3',
      node_type: nodeType,
      executed: ['4', '6', '7'],
      exception_message: exceptionMessage,
      exception_type: exceptionType,
      traceback: ['  File "/ComfyUI/execution.py", line 151, in recursive_execute\n'],
      current_inputs: {},
      current_outputs: {},
    },
  };
}

interface Case {
  readonly name: string;
  readonly input: unknown;
  readonly failureType: FailureType;
  readonly retryable: boolean;
  readonly rule: string;
  readonly field: FailureClassification['evidence']['field'];
}

const CASES: readonly Case[] = [
  // GPU out of memory
  {
    name: 'PyTorch CUDA OOM text',
    input: new Error('CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity; 20.1 GiB already allocated)'),
    failureType: 'vram_exhaustion',
    retryable: false,
    rule: 'gpu_out_of_memory',
    field: 'message',
  },
  {
    name: 'torch.OutOfMemoryError from ComfyUI',
    input: comfyExecutionError('torch.OutOfMemoryError', 'Allocation on device 0 would exceed allowed memory. (out of memory)'),
    failureType: 'vram_exhaustion',
    retryable: false,
    rule: 'gpu_out_of_memory',
    field: 'exceptionType',
  },
  {
    name: 'Allocation on device',
    input: 'Allocation on device 0 would exceed allowed memory.',
    failureType: 'vram_exhaustion',
    retryable: false,
    rule: 'gpu_out_of_memory',
    field: 'message',
  },
  {
    name: 'bare "out of memory"',
    input: 'RuntimeError: out of memory',
    failureType: 'vram_exhaustion',
    retryable: false,
    rule: 'out_of_memory',
    field: 'message',
  },
  // host memory, distinguished from GPU memory
  {
    name: 'ENOMEM',
    input: errorWithCode('spawn ENOMEM', 'ENOMEM'),
    failureType: 'system_resource_error',
    retryable: false,
    rule: 'host_memory_code',
    field: 'code',
  },
  {
    name: 'Cannot allocate memory',
    input: new Error('OSError: [Errno 12] Cannot allocate memory'),
    failureType: 'system_resource_error',
    retryable: false,
    rule: 'host_memory_text',
    field: 'message',
  },
  {
    name: 'PyTorch CPU allocator out of memory',
    input: comfyExecutionError(
      'RuntimeError',
      '[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough memory: you tried to allocate 26843545600 bytes.',
    ),
    failureType: 'system_resource_error',
    retryable: false,
    rule: 'host_memory_text',
    field: 'exceptionMessage',
  },
  // disk
  {
    name: 'ENOSPC',
    input: errorWithCode("ENOSPC: no space left on device, write '/data/models/wan2.2-t2v.safetensors'", 'ENOSPC'),
    failureType: 'system_resource_error',
    retryable: false,
    rule: 'disk_full_code',
    field: 'code',
  },
  {
    name: 'No space left on device text',
    input: comfyExecutionError('OSError', '[Errno 28] No space left on device', 'SaveVideo'),
    failureType: 'system_resource_error',
    retryable: false,
    rule: 'disk_full_text',
    field: 'exceptionMessage',
  },
  // model files
  {
    name: 'model file missing (Python)',
    input: comfyExecutionError(
      'FileNotFoundError',
      "[Errno 2] No such file or directory: '/ComfyUI/models/diffusion_models/wan2.2_t2v_14B.safetensors'",
      'UNETLoader',
    ),
    failureType: 'model_loading_failure',
    retryable: false,
    rule: 'model_file_missing',
    field: 'exceptionType',
  },
  {
    name: 'model file missing (Node ENOENT)',
    input: errorWithCode("ENOENT: no such file or directory, open '/data/models/ti2v-5B/model.safetensors'", 'ENOENT'),
    failureType: 'model_loading_failure',
    retryable: false,
    rule: 'model_file_code',
    field: 'code',
  },
  {
    name: 'model file unreadable',
    input: "PermissionError: [Errno 13] Permission denied: '/models/i2v-A14B.safetensors'",
    failureType: 'model_loading_failure',
    retryable: false,
    rule: 'model_file_unreadable',
    field: 'message',
  },
  {
    name: 'corrupt safetensors header',
    input: comfyExecutionError('safetensors_rust.SafetensorError', 'Error while deserializing header: MetadataIncompleteBuffer', 'UNETLoader'),
    failureType: 'model_loading_failure',
    retryable: false,
    rule: 'model_file_corrupt',
    field: 'exceptionType',
  },
  {
    name: 'checksum mismatch (retryable: download again)',
    input: new Error('sha256 mismatch for t2v-A14B: expected 9f86d081, got 2c26b46b'),
    failureType: 'model_loading_failure',
    retryable: true,
    rule: 'checksum_mismatch',
    field: 'message',
  },
  {
    name: 'ComfyUI prompt validation: model not in list',
    input: {
      error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation' },
      node_errors: {},
      message: "Value not in list: unet_name: 'wan2.2_i2v_high_noise_14B_fp8.safetensors' not in []",
    },
    failureType: 'model_loading_failure',
    retryable: false,
    rule: 'model_not_in_list',
    field: 'message',
  },
  // network
  ...(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'] as const).map(
    (code): Case => ({
      name: `Node ${code}`,
      input: errorWithCode(`connect ${code} 127.0.0.1:8188`, code),
      failureType: 'network_error',
      retryable: true,
      rule: 'network_code',
      field: 'code',
    }),
  ),
  {
    name: 'fetch failed with the code on its cause',
    input: new TypeError('fetch failed', { cause: errorWithCode('connect ECONNREFUSED 127.0.0.1:8188', 'ECONNREFUSED') }),
    failureType: 'network_error',
    retryable: true,
    rule: 'network_code',
    field: 'code',
  },
  {
    name: 'connection refused text',
    input: 'HTTPConnectionPool(host=localhost, port=8188): Max retries exceeded (Connection refused)',
    failureType: 'network_error',
    retryable: true,
    rule: 'network_text',
    field: 'message',
  },
  {
    name: 'AbortSignal.timeout',
    input: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
    failureType: 'network_error',
    retryable: true,
    rule: 'request_timeout',
    field: 'name',
  },
  // HTTP
  {
    name: 'HTTP 404: a wrong URL or path prefix, or a missing output (missing models are a 400 "Value not in list")',
    input: { status: 404, statusText: 'Not Found' },
    failureType: 'generation_pipeline_error',
    retryable: false,
    rule: 'http_not_found',
    field: 'status',
  },
  {
    name: 'HTTP 401 from a proxy in front of ComfyUI: the credentials are wrong, trying again will not help',
    input: { status: 401, statusText: 'Unauthorized', body: '401 Authorization Required' },
    failureType: 'network_error',
    retryable: false,
    rule: 'http_unauthorized',
    field: 'status',
  },
  {
    name: 'HTTP 403 from Cloudflare Access',
    input: { status: 403, body: 'Forbidden' },
    failureType: 'network_error',
    retryable: false,
    rule: 'http_unauthorized',
    field: 'status',
  },
  {
    name: 'HTTP 503: backend unreachable or overloaded',
    input: { status: 503 },
    failureType: 'network_error',
    retryable: true,
    rule: 'http_unreachable',
    field: 'status',
  },
  {
    name: 'HTTP 502 from a proxy',
    input: { statusCode: 502, message: 'Bad Gateway' },
    failureType: 'network_error',
    retryable: true,
    rule: 'http_unreachable',
    field: 'status',
  },
  {
    name: 'HTTP 500: the backend broke while working',
    input: { status: 500, body: 'Internal Server Error' },
    failureType: 'generation_pipeline_error',
    retryable: true,
    rule: 'http_server_error',
    field: 'status',
  },
  {
    name: 'HTTP 500 whose body says CUDA out of memory: text wins over status',
    input: { status: 500, body: { error: 'CUDA out of memory' } },
    failureType: 'vram_exhaustion',
    retryable: false,
    rule: 'gpu_out_of_memory',
    field: 'body',
  },
  {
    name: 'HTTP 429',
    input: { status: 429 },
    failureType: 'network_error',
    retryable: true,
    rule: 'http_too_many_requests',
    field: 'status',
  },
  // pipeline processes
  {
    name: 'process exited with code 1',
    input: 'pipeline process exited with code 1',
    failureType: 'generation_pipeline_error',
    retryable: true,
    rule: 'process_exit_text',
    field: 'message',
  },
  {
    name: 'child process killed by SIGKILL',
    input: Object.assign(new Error('Command failed: python generate.py'), { code: null, signal: 'SIGKILL', killed: true }),
    failureType: 'generation_pipeline_error',
    retryable: true,
    rule: 'process_exit',
    field: 'signal',
  },
  {
    name: 'child process exit code',
    input: errorWithCode('Command failed: python generate.py', 1),
    failureType: 'generation_pipeline_error',
    retryable: true,
    rule: 'process_exit',
    field: 'exitCode',
  },
  {
    name: 'pipeline binary missing is not a model file',
    input: errorWithCode('spawn python3 ENOENT', 'ENOENT'),
    failureType: 'generation_pipeline_error',
    retryable: false,
    rule: 'pipeline_binary_missing',
    field: 'message',
  },
  // hardware optimisation
  {
    name: 'no kernel image for this GPU',
    input: 'CUDA error: no kernel image is available for execution on the device',
    failureType: 'hardware_optimization_failure',
    retryable: false,
    rule: 'hardware_optimization',
    field: 'message',
  },
  // unknown
  {
    name: 'unknown error keeps its message',
    input: new Error('the sampler produced NaN latents'),
    failureType: 'generation_pipeline_error',
    retryable: true,
    rule: 'unknown',
    field: 'none',
  },
  // the model-files downloader's DownloadError (code, httpStatus, retryable getter)
  {
    name: 'download: disk full',
    input: Object.assign(new Error('The disk is full: ENOSPC'), { name: 'DownloadError', code: 'disk_full', retryable: false }),
    failureType: 'system_resource_error',
    retryable: false,
    rule: 'disk_full_code',
    field: 'code',
  },
  {
    name: 'download: not found',
    input: Object.assign(new Error('https://example.org/x.safetensors answered 404'), { code: 'not_found', httpStatus: 404 }),
    failureType: 'model_loading_failure',
    retryable: false,
    rule: 'download_unobtainable_code',
    field: 'code',
  },
  {
    name: 'download: network, retryable by its own word',
    input: Object.assign(new Error('Request failed: socket hang up'), { code: 'network', retryable: true }),
    failureType: 'network_error',
    retryable: true,
    rule: 'download_network_code',
    field: 'code',
  },
  {
    name: "an error's own retryable flag wins over the rule's",
    input: Object.assign(new Error('CUDA out of memory'), { retryable: true }),
    failureType: 'vram_exhaustion',
    retryable: true,
    rule: 'gpu_out_of_memory',
    field: 'message',
  },
];

void describe('classifyFailure', () => {
  for (const c of CASES) {
    void test(`${c.name} → ${c.failureType} (${c.rule})`, () => {
      const result = classifyFailure(c.input);
      assert.equal(result.failureType, c.failureType);
      assert.equal(result.retryable, c.retryable);
      assert.equal(result.evidence.rule, c.rule);
      assert.equal(result.evidence.field, c.field);
    });
  }

  void test('evidence quotes the text that matched', () => {
    const result = classifyFailure(new Error('RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB'));
    assert.deepEqual(result.evidence, { rule: 'gpu_out_of_memory', field: 'message', matched: 'CUDA out of memory' });
  });

  void test('the original message is kept', () => {
    assert.equal(classifyFailure(new Error('the sampler produced NaN latents')).message, 'the sampler produced NaN latents');
    assert.equal(
      classifyFailure(comfyExecutionError('torch.OutOfMemoryError', 'Allocation on device 0 would exceed allowed memory.')).message,
      'torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory.',
    );
    assert.equal(classifyFailure({ status: 503, statusText: 'Service Unavailable' }).message, 'HTTP 503 Service Unavailable');
  });

  void test('odd inputs become an unknown pipeline error instead of throwing', () => {
    for (const input of [undefined, null, 42, {}, Symbol('x').toString()]) {
      const result = classifyFailure(input);
      assert.equal(result.failureType, 'generation_pipeline_error');
      assert.equal(result.evidence.rule, 'unknown');
    }
  });

  void test('a bare execution_error data payload (not wrapped in a message) is read too', () => {
    const payload = (comfyExecutionError('torch.OutOfMemoryError', 'CUDA out of memory') as { data: unknown }).data;
    assert.equal(extractFailureFacts(payload).text.nodeType, 'KSampler');
    assert.equal(classifyFailure(payload).failureType, 'vram_exhaustion');
  });
});

void describe('extra classification rules from config', () => {
  void test('run before the built-in table, in order', () => {
    const rules = compileClassificationRules([
      { name: 'warming_up', pattern: 'model server is warming up', failureType: 'network_error', retryable: true },
      { name: 'oom_is_hardware_here', pattern: /CUDA out of memory/, failureType: 'hardware_optimization_failure' },
    ]);
    const warming = classifyFailure('Model server is warming up, try later', rules);
    assert.equal(warming.failureType, 'network_error');
    assert.equal(warming.retryable, true);
    assert.deepEqual(warming.evidence, { rule: 'warming_up', field: 'message', matched: 'Model server is warming up' });

    const overridden = classifyFailure('CUDA out of memory', rules);
    assert.equal(overridden.failureType, 'hardware_optimization_failure');
    assert.equal(overridden.retryable, false, 'retryable defaults to false');
    assert.equal(classifyFailure('CUDA out of memory').failureType, 'vram_exhaustion', 'without the rules the table decides');
  });

  void test('a rule can be limited to one field and given flags', () => {
    const rules = compileClassificationRules([
      { pattern: '^WanVideoSampler$', flags: '', field: 'nodeType', failureType: 'hardware_optimization_failure' },
    ]);
    const result = classifyFailure(comfyExecutionError('RuntimeError', 'shape mismatch', 'WanVideoSampler'), rules);
    assert.deepEqual(result.evidence, { rule: 'config_rule_0', field: 'nodeType', matched: 'WanVideoSampler' });
    assert.equal(classifyFailure(comfyExecutionError('RuntimeError', 'shape mismatch', 'wanvideosampler'), rules).evidence.rule, 'unknown');
  });

  void test('a bad rule is rejected with an error naming the field, what is allowed and the value received', () => {
    assert.throws(
      () => compileClassificationRules([{ pattern: 'ok', failureType: 'vram_exhaustion' }, { pattern: 'x', failureType: 'gpu_meltdown' }]),
      (error: unknown) => {
        assert.ok(isValidationError(error));
        assert.match(error.message, /classificationRules\[1\]\.failureType/);
        assert.match(error.message, /vram_exhaustion/);
        assert.match(error.message, /\(received "gpu_meltdown"\)/);
        return true;
      },
    );
  });

  void test('an invalid regular expression is named', () => {
    assert.throws(
      () => compileClassificationRules([{ pattern: '(unclosed', failureType: 'network_error' }]),
      /classificationRules\[0\]\.pattern: expected a valid regular expression .*\(received "\(unclosed"\)/,
    );
  });

  void test('unknown fields are named', () => {
    assert.throws(
      () => compileClassificationRules([{ pattern: 'x', failureType: 'network_error', retriable: true }]),
      /classificationRules\[0\]\.retriable: unknown field.*\(received true\)/,
    );
  });
});

void test('stack frames in a traceback do not decide the type unless a rule asks for them', () => {
  const payload = {
    exception_type: 'ValueError',
    exception_message: 'prompt is empty',
    node_type: 'WanVideoTextEncode',
    traceback: ['  File "/venv/lib/python3.11/site-packages/xformers/ops/fmha/__init__.py", line 223, in memory_efficient_attention\n'],
  };
  assert.equal(classifyFailure(payload).evidence.rule, 'unknown');
  const rules = compileClassificationRules([{ pattern: 'xformers', field: 'traceback', failureType: 'hardware_optimization_failure' }]);
  assert.deepEqual(classifyFailure(payload, rules).evidence, { rule: 'config_rule_0', field: 'traceback', matched: 'xformers' });
});
