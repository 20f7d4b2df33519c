import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isValidationError } from '../../src/core/validation.js';
import { ServiceConfigSchema, envVariables, loadConfig, writeStarterConfig } from '../../src/interfaces/config.js';
import { isLoopback } from '../../src/core/loopback.js';
import { isUnsafeBindError } from '../../src/interfaces/http/bind-policy.js';
import { startService } from '../../src/interfaces/http/service.js';

describe('config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'understudy-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('file, then environment, then flags: each overrides the one before', async () => {
    const file = join(dir, 'precedence.yaml');
    await writeFile(file, 'port: 9001\nhost: 127.0.0.2\nsimulated:\n  vramGb: 16\n');
    const { config } = await loadConfig({ flags: { config: file, host: '127.0.0.3' }, env: { UNDERSTUDY_PORT: '9002', UNDERSTUDY_SIMULATED_TIME_SCALE: '0.5' }, cwd: dir });
    assert.equal(config.host, '127.0.0.3');
    assert.equal(config.port, 9002);
    assert.equal(config.simulated.vramGb, 16);
    assert.equal(config.simulated.timeScale, 0.5);
    assert.equal(config.simulated.downloadMiBPerSecond, 50, 'untouched keys keep their defaults');
  });

  test('every key has an environment variable, lists and maps included', async () => {
    const names = envVariables().map((v) => v.name);
    for (const name of ['UNDERSTUDY_HOST', 'UNDERSTUDY_PORT', 'UNDERSTUDY_DATA_DIR', 'UNDERSTUDY_TOKEN', 'UNDERSTUDY_MAX_QUEUE_SIZE', 'UNDERSTUDY_SIMULATED_DOWNLOAD_MIB_PER_SECOND', 'UNDERSTUDY_JOBS_LEASE_MS', 'UNDERSTUDY_PLANNER']) {
      assert.ok(names.includes(name), name);
    }
    const { config } = await loadConfig({
      env: { UNDERSTUDY_SIMULATED_INSTALLED_MODELS: 'ti2v-5B, t2v-A14B', UNDERSTUDY_SCHEDULING_AFFINITY: 'false', UNDERSTUDY_PLANNER: '{"networkErrorWaitSeconds": 60}' },
      cwd: dir,
    });
    assert.deepEqual(config.simulated.installedModels, ['ti2v-5B', 't2v-A14B']);
    assert.equal(config.scheduling.affinity, false);
    assert.deepEqual(config.planner, { networkErrorWaitSeconds: 60 });
  });

  test('a bad value names the key, where it came from, what is allowed and what was received', async () => {
    const error = await loadConfig({ env: { UNDERSTUDY_PORT: 'eighty', UNDERSTUDY_MAX_QUEUE_SIZE: '0', UNDERSTUDY_TOKEN: 'short' }, flags: { dataDir: '' }, cwd: dir }).catch((e: unknown) => e);
    assert.ok(isValidationError(error));
    const byField = Object.fromEntries(error.issues.map((i) => [i.field, i]));
    assert.deepEqual(Object.keys(byField).sort(), [
      'dataDir (flag --data-dir)',
      'maxQueueSize (environment UNDERSTUDY_MAX_QUEUE_SIZE)',
      'port (environment UNDERSTUDY_PORT)',
      'token (environment UNDERSTUDY_TOKEN)',
    ]);
    assert.equal(byField['port (environment UNDERSTUDY_PORT)']!.received, 'eighty');
    assert.match(byField['token (environment UNDERSTUDY_TOKEN)']!.problem, /at least 16 characters/);
  });

  test('an unknown key in a file lists the keys allowed there; a file that does not parse says so', async () => {
    const file = join(dir, 'unknown.yaml');
    await writeFile(file, 'prot: 8080\nsimulated:\n  vram: 8\n');
    const error = await loadConfig({ flags: { config: file }, env: {}, cwd: dir }).catch((e: unknown) => e);
    assert.ok(isValidationError(error));
    assert.deepEqual(error.issues.map((i) => i.field).sort(), [`prot (${file})`, `simulated.vram (${file})`]);
    assert.match(error.issues.find((i) => i.field.startsWith('simulated.vram'))!.problem, /expected one of vramGb, slots/);

    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"port": ');
    await assert.rejects(loadConfig({ flags: { config: broken }, env: {}, cwd: dir }), /not valid JSON/);
    await assert.rejects(loadConfig({ flags: { config: join(dir, 'missing.yaml') }, env: {}, cwd: dir }), /--config: expected an existing file/);
  });

  test('understudy.config.yaml in the working directory is found without --config', async () => {
    const here = await mkdtemp(join(dir, 'cwd-'));
    await writeFile(join(here, 'understudy.config.yaml'), 'maxQueueSize: 7\n');
    const { config, file } = await loadConfig({ env: {}, cwd: here });
    assert.equal(config.maxQueueSize, 7);
    assert.equal(file, join(here, 'understudy.config.yaml'));
  });

  test('the starter config is commented, loads as it is, and holds the defaults; init does not overwrite', async () => {
    const file = join(dir, 'starter.yaml');
    await writeStarterConfig(file);
    const text = await readFile(file, 'utf8');
    assert.ok(text.split('\n').filter((l) => l.includes('#')).length > 20);
    const { config } = await loadConfig({ flags: { config: file }, env: {}, cwd: dir });
    assert.deepEqual(config, ServiceConfigSchema.parse({}));
    await assert.rejects(writeStarterConfig(file), /--force/);
    await writeStarterConfig(file, true);
  });
});

describe('binding', () => {
  test('loopback addresses are told apart from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.ok(isLoopback(host), host);
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.org', '10.0.0.1']) assert.ok(!isLoopback(host), host);
  });

  test('the service refuses to listen beyond loopback without a token, says why, and touches nothing', async () => {
    const dataDir = join(tmpdir(), `understudy-never-${process.pid}`);
    const config = ServiceConfigSchema.parse({ host: '0.0.0.0', port: 0, dataDir });
    const error = await startService(config).catch((e: unknown) => e);
    assert.ok(isUnsafeBindError(error));
    assert.match(error.message, /refusing to listen on 0\.0\.0\.0 without a token: anyone who can reach this machine/);
    assert.ok(!existsSync(dataDir), 'no data dir created');
  });
});
