// A ComfyUI that Understudy launches itself: real child processes (a tiny Node server standing in for main.py that
// records its argv) started, killed for real, relaunched with --lowvram, restarted after a crash.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ComfyUiBackend } from '../../src/adapters/comfyui/comfyui-backend.js';
import { ComfyUiClient } from '../../src/adapters/comfyui/comfyui-client.js';
import { resolveEndpoint } from '../../src/adapters/comfyui/comfyui-endpoint.js';
import type { ComfyUiConfigInput } from '../../src/adapters/comfyui/comfyui-config.js';
import { ManagedProcess, type ManagedProcessEvent, type ManagedProcessOptions } from '../../src/adapters/comfyui/managed-process.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { BackendError, type BackendEvent } from '../../src/runtime/backend.js';
import { FakeComfyUi } from './fake-comfyui.js';
import { LIMIT, ManualClock, freePort, rejection, request, tempDir } from './helpers.js';

const MAIN = fileURLToPath(new URL('./fake-comfyui-main.ts', import.meta.url));
const NEVER = new AbortController().signal;

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A backend that launches the stand-in on a free port, with `launch` options and ComfyUI flags added; stopped after the test. */
async function managedBackend(t: TestContext, launch: Partial<NonNullable<ComfyUiConfigInput['launch']>> = {}, configuredFlags: string[] = []) {
  const port = await freePort();
  const record = join(await tempDir('argv'), 'argv.jsonl');
  const clock = new ManualClock();
  const backend = await ComfyUiBackend.create(
    {
      id: 'managed',
      url: `http://127.0.0.1:${port}`,
      launch: { command: process.execPath, args: ['--import', 'tsx', MAIN, '--port', String(port), '--record', record, ...configuredFlags], ...launch },
      timeouts: { startupMs: 60_000, stopMs: 5_000 },
    },
    { clock },
  );
  t.after(() => backend.stop());
  const events: BackendEvent[] = [];
  backend.onEvent((event) => events.push(event));
  const launches = async (): Promise<Array<{ pid: number; args: string[] }>> =>
    (await readFile(record, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { pid: number; args: string[] });
  const argv = async (): Promise<string[]> => (await backend.client.systemStats(NEVER)).system.argv ?? [];
  return { backend, clock, events, launches, argv };
}

/** Resolves with the first backend event matching `predicate`. */
function nextEvent(backend: ComfyUiBackend, predicate: (event: BackendEvent) => boolean): Promise<BackendEvent> {
  return new Promise((resolve) => {
    const listener = backend.onEvent((event) => {
      if (!predicate(event)) return;
      listener.dispose();
      resolve(event);
    });
  });
}

test('a managed ComfyUI is started, relaunched for real with --lowvram (then --novram) and stopped', LIMIT, async (t) => {
  const { backend, events, launches, argv } = await managedBackend(t);
  await backend.start();
  const first = backend.process?.pid;
  assert.ok(alive(first));
  assert.deepEqual((await argv()).slice(-1), [(await launches())[0]?.args.at(-1)]);
  assert.equal((await argv()).includes('--lowvram'), false);

  await backend.setOffloadMode('lowvram', NEVER);
  const second = backend.process?.pid;
  assert.notEqual(second, first);
  assert.equal(alive(first), false, 'the first process was killed');
  assert.ok(alive(second));
  assert.equal((await argv()).at(-1), '--lowvram');
  assert.deepEqual((await launches()).map((l) => l.pid), [first, second]);
  assert.equal(backend.offloadMode, 'lowvram');
  assert.deepEqual(await backend.vram(), { totalGb: 16, usedGb: 4 });

  await backend.setOffloadMode('lowvram', NEVER);
  assert.equal(backend.process?.pid, second, 'the same mode does not relaunch');
  await backend.setOffloadMode('novram', NEVER);
  const flags = (await argv()).filter((a) => a.startsWith('--') && !['--import', '--port', '--record'].includes(a));
  assert.deepEqual(flags, ['--novram']);
  await backend.setOffloadMode('model', NEVER);
  assert.equal((await argv()).at(-1), '--disable-smart-memory');

  assert.deepEqual(
    events.filter((e) => e.type === 'pipeline_state').map((e) => (e.type === 'pipeline_state' ? `${e.state}: ${e.detail}` : '')),
    [
      'running: started by Understudy',
      'restarting: restarting ComfyUI (offload mode lowvram)',
      'running: restarted by Understudy (offload mode lowvram) with --lowvram',
      'restarting: restarting ComfyUI (offload mode novram)',
      'running: restarted by Understudy (offload mode novram) with --novram',
      'restarting: restarting ComfyUI (offload mode model)',
      'running: restarted by Understudy (offload mode model) with --disable-smart-memory',
    ],
  );

  const last = backend.process?.pid;
  await backend.stop();
  assert.equal(alive(last), false);
  assert.equal(backend.process?.running, false);
});

test('enable_cpu_offload on a ComfyUI configured with --highvram replaces the flag instead of taking the server down', LIMIT, async (t) => {
  const { backend, argv } = await managedBackend(t, {}, ['--highvram']);
  await backend.start();
  const vramFlags = async (): Promise<string[]> => (await argv()).filter((a) => ['--highvram', '--lowvram'].includes(a));
  assert.deepEqual(await vramFlags(), ['--highvram']);
  await backend.setOffloadMode('lowvram', NEVER);
  assert.deepEqual(await vramFlags(), ['--lowvram'], 'one VRAM flag: ComfyUI exits with code 2 on two');
  await backend.setOffloadMode('none', NEVER);
  assert.deepEqual(await vramFlags(), ['--highvram'], 'back to the configured flag');
});

test('a crashed ComfyUI fails jobs as a pipeline error until restart_pipeline relaunches it', LIMIT, async (t) => {
  const { backend, argv } = await managedBackend(t, { vramOptimizationArgs: ['--reserve-vram', '2'] });
  await backend.start();
  const crashed = nextEvent(backend, (e) => e.type === 'pipeline_state' && e.state === 'crashed');
  process.kill(backend.process?.pid ?? -1, 'SIGKILL');
  const event = await crashed;
  assert.match(event.type === 'pipeline_state' ? event.detail : '', /ComfyUI process \(.*\) was killed by signal SIGKILL/);

  const error = await rejection(backend.generate(request(await tempDir('out')), { signal: NEVER, onProgress: () => undefined }));
  assert.ok(error instanceof BackendError);
  assert.equal(error.signal, 'SIGKILL');
  assert.match(error.message, /was killed by signal SIGKILL and has not been restarted/);
  assert.equal(classifyFailure(error).failureType, 'generation_pipeline_error');
  const health = await backend.checkHealth(NEVER);
  assert.equal(health.healthy, false);
  assert.match(health.reason ?? '', /killed by signal SIGKILL and has not been restarted/);

  await backend.restartPipeline(NEVER);
  assert.ok(alive(backend.process?.pid));
  assert.deepEqual(await backend.checkHealth(NEVER), { healthy: true });

  await backend.applyVramOptimization(NEVER);
  assert.deepEqual((await argv()).slice(-2), ['--reserve-vram', '2']);
  await assert.rejects(backend.applyVramOptimization(NEVER), /already runs ComfyUI with --reserve-vram 2; nothing more to apply/);
  await backend.setOffloadMode('lowvram', NEVER);
  assert.deepEqual((await argv()).slice(-3), ['--lowvram', '--reserve-vram', '2']);
});

test('without vramOptimizationArgs, apply_vram_optimization on a managed ComfyUI says none are configured', LIMIT, async (t) => {
  const { backend } = await managedBackend(t);
  await assert.rejects(backend.applyVramOptimization(NEVER), /managed has no VRAM optimisation flags configured \(launch\.vramOptimizationArgs/);
});

/** A ManagedProcess running node with `args`, ready when GET /system_stats answers on `port`. */
function processFor(args: string[], port: number, clock: ManualClock, options: Partial<ManagedProcessOptions> = {}) {
  const client = new ComfyUiClient({ endpoint: resolveEndpoint(`http://127.0.0.1:${port}`, {}, {}), clock, requestTimeoutMs: 5000, connectTimeoutMs: 5000 });
  const managed = new ManagedProcess({
    label: 'ComfyUI process',
    command: process.execPath,
    args,
    clock,
    startupMs: 30_000,
    stopMs: 2_000,
    pollMs: 500,
    isReady: async (signal) => {
      await client.systemStats(signal);
      return true;
    },
    ...options,
  });
  const events: ManagedProcessEvent[] = [];
  managed.onEvent((event) => events.push(event));
  return { managed, events };
}

function whenEvent(managed: ManagedProcess, predicate: (event: ManagedProcessEvent) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = managed.onEvent((event) => {
      if (!predicate(event)) return;
      listener.dispose();
      resolve();
    });
  });
}

test('a process that ignores SIGTERM is killed with SIGKILL once stopMs has passed on the clock', LIMIT, async (t) => {
  const port = await freePort();
  const clock = new ManualClock();
  const { managed } = processFor(['--import', 'tsx', MAIN, '--port', String(port), '--ignore-sigterm'], port, clock);
  t.after(async () => {
    const pending = managed.stop();
    await clock.advance(2_000);
    await pending;
  });
  await managed.start([], NEVER);
  const pid = managed.pid;
  const ignored = whenEvent(managed, (e) => e.type === 'output' && e.line === 'ignoring SIGTERM');
  const stopping = managed.stop();
  await ignored;
  assert.ok(alive(pid), 'still running after SIGTERM');
  await clock.advance(2_000);
  await stopping;
  assert.equal(alive(pid), false);
  assert.equal(managed.lastExit?.signal, 'SIGKILL');
  assert.equal(managed.lastExit?.requested, true);
});

test('a launch that exits while starting reports its exit code and last output, as a pipeline error', LIMIT, async () => {
  const clock = new ManualClock();
  const { managed } = processFor(['-e', 'console.error("ModuleNotFoundError: No module named \'torch\'"); process.exit(3)'], await freePort(), clock, { label: 'ComfyUI process (python main.py)' });
  const error = await rejection(managed.start([], NEVER));
  assert.ok(error instanceof BackendError);
  assert.equal(error.exitCode, 3);
  assert.equal(error.message, "ComfyUI process (python main.py) exited with code 3 while starting; last output: ModuleNotFoundError: No module named 'torch'");
  assert.equal(classifyFailure(error).failureType, 'generation_pipeline_error');
  assert.equal(managed.running, false);
});

test('a missing program and a port already taken are reported, not retried blindly', LIMIT, async (t) => {
  const clock = new ManualClock();
  const { managed: missing } = processFor([], await freePort(), clock, { command: '/nonexistent/python' });
  const error = await rejection(missing.start([], NEVER));
  assert.match(error.message, /cannot start ComfyUI process: spawn \/nonexistent\/python ENOENT/);
  assert.equal(classifyFailure(error).evidence.rule, 'pipeline_binary_missing');

  const fake = await FakeComfyUi.start();
  t.after(() => fake.close());
  const port = Number(new URL(fake.url).port);
  const { managed } = processFor(['--import', 'tsx', MAIN, '--port', String(port)], port, clock);
  await assert.rejects(managed.start([], NEVER), /cannot start ComfyUI process: something already answers at its address/);
  assert.equal(managed.running, false);
});

test('a launch that never becomes ready is stopped after startupMs on the clock', LIMIT, async () => {
  const clock = new ManualClock();
  const { managed } = processFor(['-e', 'console.log("loading models..."); setInterval(() => {}, 60_000)'], await freePort(), clock);
  const printed = whenEvent(managed, (e) => e.type === 'output' && e.line === 'loading models...');
  const starting = rejection(managed.start([], NEVER));
  await printed;
  const pid = managed.pid;
  await clock.advance(30_000);
  const error = await starting;
  assert.match(error.message, /^ComfyUI process did not become ready within 30 s of its launch; last output: loading models\.\.\.$/);
  assert.equal(alive(pid), false);
});
