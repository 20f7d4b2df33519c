import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isNvidiaSmiParseError,
  NVIDIA_SMI_ARGS,
  parseNvidiaSmiCsv,
  queryNvidiaSmi,
} from '../../src/adapters/nvidia-smi.js';

// Recorded outputs of:
// nvidia-smi --query-gpu=index,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu --format=csv,noheader,nounits
const SINGLE_4090 = '0, NVIDIA GeForce RTX 4090, 24564, 1317, 22859, 3, 41\n';
const DUAL_A100 =
  '0, NVIDIA A100-SXM4-80GB, 81920, 71234, 10048, 97, 66\n' + '1, NVIDIA A100-SXM4-80GB, 81920, 4, 81280, 0, 31\n';
const LAPTOP_NA = '0, NVIDIA GeForce MX250, 2048, 312, 1736, [N/A], [N/A]\r\n';
const MEMORY_NOT_SUPPORTED = '0, NVIDIA GH200 480GB, [N/A], [N/A], [N/A], 12, [Not Supported]\n';

void describe('parseNvidiaSmiCsv', () => {
  void test('one GPU', () => {
    assert.deepEqual(parseNvidiaSmiCsv(SINGLE_4090), [
      {
        index: 0,
        name: 'NVIDIA GeForce RTX 4090',
        memoryTotalMib: 24564,
        memoryUsedMib: 1317,
        memoryFreeMib: 22859,
        utilizationPercent: 3,
        temperatureC: 41,
      },
    ]);
  });

  void test('several GPUs, in index order', () => {
    const gpus = parseNvidiaSmiCsv(DUAL_A100);
    assert.deepEqual(
      gpus.map((g) => [g.index, g.memoryUsedMib, g.utilizationPercent]),
      [
        [0, 71234, 97],
        [1, 4, 0],
      ],
    );
  });

  void test('"[N/A]" and "[Not Supported]" become null; CRLF line ends are fine', () => {
    const [laptop] = parseNvidiaSmiCsv(LAPTOP_NA);
    assert.equal(laptop?.utilizationPercent, null);
    assert.equal(laptop?.temperatureC, null);
    assert.equal(laptop?.memoryTotalMib, 2048);
    const [gh200] = parseNvidiaSmiCsv(MEMORY_NOT_SUPPORTED);
    assert.equal(gh200?.memoryTotalMib, null);
    assert.equal(gh200?.utilizationPercent, 12);
    assert.equal(gh200?.temperatureC, null);
  });

  void test('a name with a comma stays whole; empty output means no GPUs', () => {
    assert.equal(parseNvidiaSmiCsv('0, Tesla K80, rev 2, 11441, 0, 11441, 0, 30')[0]?.name, 'Tesla K80, rev 2');
    assert.deepEqual(parseNvidiaSmiCsv('\n'), []);
  });

  void test('garbage is a parse error naming the line', () => {
    assert.throws(
      () => parseNvidiaSmiCsv('No devices were found'),
      (error: unknown) => isNvidiaSmiParseError(error) && error.line === 'No devices were found',
    );
    assert.throws(() => parseNvidiaSmiCsv('0, GPU, lots, 1, 1, 1, 1'), /"lots" is not a number/);
  });
});

void describe('queryNvidiaSmi', () => {
  void test('runs nvidia-smi with the query arguments and a timeout', async () => {
    const seen: unknown[] = [];
    const result = await queryNvidiaSmi({
      timeoutMs: 1234,
      run: (file, args, timeoutMs) => {
        seen.push(file, args.join(' '), timeoutMs);
        return Promise.resolve(DUAL_A100);
      },
    });
    assert.deepEqual(seen, [
      'nvidia-smi',
      '--query-gpu=index,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu --format=csv,noheader,nounits',
      1234,
    ]);
    assert.equal(NVIDIA_SMI_ARGS.length, 2);
    assert.equal(result.status, 'ok');
    assert.equal(result.status === 'ok' && result.gpus.length, 2);
  });

  void test('a missing binary is "absent", not an error (real execFile)', async () => {
    assert.deepEqual(await queryNvidiaSmi({ binary: '/nonexistent/bin/nvidia-smi' }), { status: 'absent' });
  });

  void test('a failing nvidia-smi reports what it printed', async () => {
    const message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.";
    const result = await queryNvidiaSmi({
      run: () => Promise.reject(Object.assign(new Error('Command failed: nvidia-smi'), { code: 9, stdout: `${message}\n` })),
    });
    assert.deepEqual(result, { status: 'failed', error: `nvidia-smi failed: ${message}` });
  });

  void test('unparseable output is reported as a failure', async () => {
    const result = await queryNvidiaSmi({ run: () => Promise.resolve('No devices were found\n') });
    assert.equal(result.status, 'failed');
  });
});
