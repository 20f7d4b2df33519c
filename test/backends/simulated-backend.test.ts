import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SimulatedBackend, type SimulatedBackendOptionsInput } from '../../src/adapters/simulated-backend.js';
import { FaultInjector, seededRandom, type FaultKind } from '../../src/adapters/simulated-faults.js';
import { classifyFailure } from '../../src/core/failure-classification.js';
import { isAbortError, type BackendEvent, type GenerationRequest, type GeneratedOutput } from '../../src/runtime/backend.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { decodeGif } from './gif-decoder.js';

/** Every output of this file goes under one temporary directory, removed at the end. */
const outputRoot = await mkdtemp(join(tmpdir(), 'understudy-sim-'));

/** Every test fails rather than hangs if a job never settles. */
const LIMIT = { timeout: 10_000 };
const NEVER = new AbortController().signal;

let jobCounter = 0;

async function setup(options: SimulatedBackendOptionsInput = {}, random?: () => number) {
  const clock = new ManualClock();
  const backend = new SimulatedBackend(options, { clock, ...(random && { random }) });
  const outputDir = await mkdtemp(join(outputRoot, 'job-'));
  const events: BackendEvent[] = [];
  backend.onEvent((event) => events.push(event));
  return { clock, backend, outputDir, events };
}

type RequestOverrides = Partial<Omit<GenerationRequest, 'settings'>> & { settings?: Partial<GenerationRequest['settings']> };

function request(outputDir: string, overrides: RequestOverrides = {}): GenerationRequest {
  const { settings, ...rest } = overrides;
  return {
    jobId: `job-${++jobCounter}`,
    modelId: 'ti2v-5B',
    prompt: 'a red fox runs across a snowy field at dawn',
    outputDir,
    ...rest,
    settings: { resolution: '1280x720', quality: 'medium', steps: 10, ...settings },
  };
}

/** A generation started on the backend, with its progress and whether it has settled. */
function start(backend: SimulatedBackend, job: GenerationRequest, signal: AbortSignal = NEVER) {
  const progress: Array<[number, string]> = [];
  const state = { settled: false };
  const promise = backend.generate(job, { signal, onProgress: (fraction, message) => progress.push([fraction, message]) });
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return { promise, progress, state };
}

/** Runs a job to its end by moving the clock far enough, and resolves with its output or its error. */
async function run(clock: ManualClock, backend: SimulatedBackend, job: GenerationRequest): Promise<GeneratedOutput | Error> {
  const { promise } = start(backend, job);
  await clock.advance(3_600_000);
  return promise.catch((error: Error) => error);
}

function assertError(value: GeneratedOutput | Error): Error {
  assert.ok(value instanceof Error, 'expected the job to fail');
  return value;
}

await test('a job loads its model, reports progress per step in order and writes a GIF atomically', LIMIT, async () => {
  const { clock, backend, outputDir, events } = await setup();
  const job = request(outputDir);
  const { promise, progress } = start(backend, job);

  // ti2v-5B: 8 GB at 2 GB/s loads in 4 s; 80 s × 10/25 steps = 32 s of sampling, 3.2 s per step.
  await clock.advance(4_000);
  assert.deepEqual(progress, [[0, 'loading ti2v-5B (8.0 GiB)']]);
  assert.deepEqual(await backend.loadedModels(), ['ti2v-5B']);
  // CUDA context 0.5 + weights 6 × 0.5 + working memory 3.
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 6.5 });

  await clock.advance(31_999);
  assert.equal(progress.length, 10, 'nine steps done, the tenth not yet');
  assert.deepEqual(await readdir(outputDir), [], 'nothing is written before the job ends');

  await clock.advance(1);
  const output = await promise;
  const fractions = progress.map(([fraction]) => fraction);
  assert.deepEqual(fractions, [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
  assert.equal(progress.at(-1)?.[1], 'sampling step 10/10');

  assert.equal(output.path, join(outputDir, `${job.jobId}.gif`));
  assert.equal(output.mediaType, 'image/gif');
  assert.equal(output.isPreview, false);
  assert.equal(output.durationMs, 36_000);
  assert.deepEqual(await readdir(outputDir), [`${job.jobId}.gif`], 'no temporary file is left behind');
  const bytes = new Uint8Array(await readFile(output.path));
  assert.equal(output.sizeBytes, (await stat(output.path)).size);
  assert.equal(String.fromCharCode(...bytes.subarray(0, 6)), 'GIF89a');
  assert.equal(bytes.at(-1), 0x3b);
  const gif = decodeGif(bytes);
  assert.deepEqual([gif.width, gif.height, gif.frames.length], [160, 90, 8]);

  // The job's working memory is released; 5 % of it stays behind as fragmented cache. VRAM was reported after the
  // load, at the job's start and at its end.
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 3.65 });
  assert.deepEqual(
    events.map((e) => e.type),
    ['model_loaded', 'vram_changed', 'vram_changed', 'vram_changed'],
  );
});

await test('timeScale shortens every duration', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup({ timeScale: 0.01 });
  const output = await run(clock, backend, request(outputDir));
  assert.ok(!(output instanceof Error));
  assert.equal(output.durationMs, 360);
});

await test('a 1080p high-quality 14B job runs out of memory on a small GPU, and fits with sequential offload or at 720p', LIMIT, async () => {
  const big = { modelId: 't2v-A14B', settings: { resolution: '1920x1080', quality: 'high' as const, steps: 5 } };
  const small = await setup({ vramGb: 10 });
  const error = assertError(await run(small.clock, small.backend, request(small.outputDir, big)));
  // 8 GB × 1.4 at 1080p = 11.2 GB needed; 10 GB less the 0.5 GB CUDA context leaves 9.5 GB.
  assert.match(error.message, /^CUDA out of memory\. Tried to allocate 11\.20 GiB\. GPU 0 has a total capacity of 10\.00 GiB of which 9\.50 GiB is free/);
  assert.equal((error as Error & { code: string }).code, 'CUDA_OUT_OF_MEMORY');
  assert.equal(classifyFailure(error).failureType, 'vram_exhaustion');
  assert.deepEqual(await small.backend.loadedModels(), [], 'nothing was loaded for a job that cannot fit');

  await small.backend.setOffloadMode('sequential', NEVER);
  const offloaded = await run(small.clock, small.backend, request(small.outputDir, big));
  assert.ok(!(offloaded instanceof Error), String(offloaded));
  // Sequential offload triples the time: 120 s × 1.5 (1080p) × 1.3 (high) × 5/25 steps × 3, after a 6 s load.
  assert.equal(offloaded.durationMs, 6_000 + 140_400);

  const fresh = await setup({ vramGb: 10 });
  const at720 = await run(fresh.clock, fresh.backend, request(fresh.outputDir, { ...big, settings: { ...big.settings, resolution: '1280x720' } }));
  assert.ok(!(at720 instanceof Error), String(at720));
});

await test('applyVramOptimization lowers what a job needs, and refuses when already on', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup({ vramGb: 10 });
  const big = request(outputDir, { modelId: 't2v-A14B', settings: { resolution: '1920x1080', steps: 5 } });
  assertError(await run(clock, backend, big));
  await backend.applyVramOptimization(NEVER);
  assert.equal(backend.vramOptimized, true);
  const output = await run(clock, backend, { ...big, jobId: 'optimised' });
  assert.ok(!(output instanceof Error), String(output));
  await assert.rejects(backend.applyVramOptimization(NEVER), /already on/);
});

await test('loading a second model unloads an idle one and costs load time', LIMIT, async () => {
  const { clock, backend, outputDir, events } = await setup({ vramGb: 16 });
  assert.ok(!((await run(clock, backend, request(outputDir, { modelId: 't2v-A14B', settings: { steps: 5 } }))) instanceof Error));
  // Context 0.5 + t2v weights 4 + cache 0.2 = 4.7 GB used; i2v at 1080p needs 9 × 1.4 = 12.6 GB of the 11.3 GB free.
  assert.deepEqual(await backend.vram(), { totalGb: 16, usedGb: 4.7 });
  events.length = 0;

  const second = request(outputDir, {
    modelId: 'i2v-A14B',
    image: { bytes: new Uint8Array([1, 2, 3]) },
    settings: { resolution: '1920x1080', steps: 5 },
  });
  const output = await run(clock, backend, second);
  assert.ok(!(output instanceof Error), String(output));
  // 1 s to unload t2v, 14 GB at 2 GB/s = 7 s to load i2v, then 100 s × 1.5 × 5/25 = 30 s of sampling.
  assert.equal(output.durationMs, 1_000 + 7_000 + 30_000);
  assert.deepEqual(await backend.loadedModels(), ['i2v-A14B']);
  const modelEvents = events.filter((e) => e.type === 'model_loaded' || e.type === 'model_unloaded');
  assert.deepEqual(
    modelEvents.map((e) => [e.type, e.modelId, e.type === 'model_unloaded' ? e.reason : e.loadMs]),
    [
      ['model_unloaded', 't2v-A14B', 'evicted'],
      ['model_loaded', 'i2v-A14B', 7_000],
    ],
  );
});

await test('a model whose weights are loaded is not loaded again', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup();
  await run(clock, backend, request(outputDir));
  const again = await run(clock, backend, request(outputDir));
  assert.ok(!(again instanceof Error));
  assert.equal(again.durationMs, 32_000, 'sampling only, no load');
});

await test('a scripted crash leaves the pipeline broken until restartPipeline', LIMIT, async () => {
  const { clock, backend, outputDir, events } = await setup();
  backend.faults.inject({ kind: 'crash' });
  const { promise, progress } = start(backend, request(outputDir));
  await clock.advance(60_000);
  const error = await promise.catch((e: Error) => e);
  assert.ok(error instanceof Error);
  assert.equal(error.message, 'pipeline process exited with code 137 (SIGKILL)');
  assert.equal((error as Error & { exitCode: number }).exitCode, 137);
  assert.equal(classifyFailure(error).failureType, 'generation_pipeline_error');
  assert.equal(progress.at(-1)?.[0], 0.4, 'it crashed halfway, at step 5 of 10');
  assert.equal(backend.pipelineState, 'crashed');
  assert.deepEqual(await backend.loadedModels(), []);
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 0 });

  const refused = assertError(await run(clock, backend, request(outputDir)));
  assert.match(refused.message, /pipeline process exited with code 137 \(SIGKILL\) and it has not been restarted/);
  assert.equal(classifyFailure(refused).failureType, 'generation_pipeline_error');
  await assert.rejects(backend.freeGpuMemory(NEVER), /cannot free GPU memory: pipeline process exited/);
  assert.deepEqual(await backend.checkHealth(NEVER), {
    healthy: false,
    reason: 'pipeline process exited with code 137 (SIGKILL) and has not been restarted',
  });

  const restart = backend.restartPipeline(NEVER);
  await clock.advance(19_999);
  assert.equal(backend.pipelineState, 'restarting');
  await clock.advance(1);
  await restart;
  assert.deepEqual(await backend.checkHealth(NEVER), { healthy: true });
  assert.ok(!((await run(clock, backend, request(outputDir))) instanceof Error));
  const states = events.flatMap((e) => (e.type === 'pipeline_state' ? [e.state] : []));
  assert.deepEqual(states, ['crashed', 'restarting', 'running']);
});

await test('a hang never progresses until the job is aborted, and the slot is then free again', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup();
  backend.faults.inject({ kind: 'hang', atFraction: 0.5 });
  const controller = new AbortController();
  const hung = start(backend, request(outputDir), controller.signal);
  await clock.advance(3_600_000);
  assert.equal(hung.state.settled, false);
  assert.equal(hung.progress.at(-1)?.[0], 0.4);
  controller.abort();
  const error = await hung.promise.catch((e: Error) => e);
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'AbortError');
  assert.ok(!((await run(clock, backend, request(outputDir))) instanceof Error));
});

await test('cancelling mid-job rejects at once with an AbortError, writes nothing and frees the working memory', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup();
  const controller = new AbortController();
  const job = start(backend, request(outputDir), controller.signal);
  await clock.advance(4_000 + 16_000);
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 6.5 });
  controller.abort(new Error('user cancelled'));
  const error = await job.promise.catch((e: Error) => e);
  assert.ok(error instanceof Error);
  assert.ok(isAbortError(error));
  assert.equal((error.cause as Error).message, 'user cancelled');
  assert.deepEqual(await readdir(outputDir), []);
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 3.65 });
});

await test('a job waits for a free slot, and stops waiting when aborted', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup({ slots: 1 });
  const first = start(backend, request(outputDir));
  const controller = new AbortController();
  const waiting = start(backend, request(outputDir), controller.signal);
  const third = start(backend, request(outputDir));
  await clock.advance(10_000);
  assert.deepEqual([waiting.progress, third.progress], [[], []]);
  controller.abort();
  await assert.rejects(waiting.promise, { name: 'AbortError' });
  await clock.advance(26_000 + 32_000);
  await first.promise;
  const output = await third.promise;
  assert.equal(output.durationMs, 32_000, 'the third job started when the first ended');
});

await test('scripted out-of-memory and load failures fail one job each, with messages the classifier knows', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup();
  backend.faults.inject({ kind: 'oom' });
  backend.faults.inject({ kind: 'load_failure' });
  const oom = assertError(await run(clock, backend, request(outputDir)));
  assert.match(oom.message, /^CUDA out of memory\. Tried to allocate/);
  assert.equal(classifyFailure(oom).failureType, 'vram_exhaustion');
  const load = assertError(await run(clock, backend, request(outputDir)));
  assert.match(load.message, /^failed to load model ti2v-5B: SafetensorError/);
  assert.equal(classifyFailure(load).failureType, 'model_loading_failure');
  assert.deepEqual(await backend.loadedModels(), [], 'the failed load left nothing loaded');
  assert.ok(!((await run(clock, backend, request(outputDir))) instanceof Error));
});

await test('a scripted fault can target one model and strike several jobs', () => {
  const injector = new FaultInjector([{ kind: 'oom', modelId: 't2v-A14B', count: 2 }], {}, () => 0);
  assert.equal(injector.next('ti2v-5B'), undefined);
  assert.equal(injector.next('t2v-A14B')?.kind, 'oom');
  assert.deepEqual(injector.pending(), [{ kind: 'oom', modelId: 't2v-A14B', count: 1 }]);
  assert.equal(injector.next('t2v-A14B')?.kind, 'oom');
  assert.equal(injector.next('t2v-A14B'), undefined);
});

await test('probability faults follow the seeded random source, so runs repeat', LIMIT, async () => {
  async function outcomes(seed: number): Promise<Array<FaultKind | 'ok'>> {
    const { clock, backend, outputDir } = await setup({ faultProbabilities: { oom: 0.3, load_failure: 0.2 } }, seededRandom(seed));
    const faults = new Map<string, FaultKind>();
    backend.onFault((fault) => {
      assert.equal(fault.source, 'probability');
      faults.set(fault.jobId, fault.kind);
    });
    const out: Array<FaultKind | 'ok'> = [];
    for (let i = 0; i < 12; i++) {
      const job = request(outputDir, { settings: { steps: 1 } });
      const result = await run(clock, backend, job);
      out.push(result instanceof Error ? faults.get(job.jobId)! : 'ok');
      if (result instanceof Error) assert.ok(faults.has(job.jobId));
    }
    return out;
  }
  const first = await outcomes(7);
  assert.deepEqual(await outcomes(7), first);
  assert.ok(first.includes('ok') && first.some((o) => o !== 'ok'), `a mix of outcomes: ${first.join(', ')}`);
  assert.throws(() => new FaultInjector([], { oom: 0.7, crash: 0.5 }, Math.random), /add up to at most 1/);
});

await test('a model that is not installed fails like a missing file, and can be downloaded', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup({ installed: ['ti2v-5B'] });
  const error = assertError(await run(clock, backend, request(outputDir, { modelId: 't2v-A14B' })));
  assert.equal(error.message, 'model file not found: models/diffusion_models/t2v-A14B.safetensors (the model is not installed)');
  assert.equal((error as Error & { code: string }).code, 'ENOENT');
  assert.equal(classifyFailure(error).failureType, 'model_loading_failure');
  const unknown = assertError(await run(clock, backend, request(outputDir, { modelId: 'wan-9000' })));
  assert.match(unknown.message, /^model file not found: .*simulated-gpu does not know this model/);

  const statuses = await backend.installedModels();
  assert.deepEqual(
    statuses.map((s) => [s.modelId, s.status]),
    [
      ['t2v-A14B', 'missing'],
      ['i2v-A14B', 'missing'],
      ['ti2v-5B', 'available'],
    ],
  );

  // 12 GiB at 50 MiB/s takes 245.76 s.
  const download = backend.ensureModelDownloaded('t2v-A14B', NEVER);
  await clock.advance(122_880);
  const halfway = (await backend.installedModels())[0]!;
  assert.equal(halfway.status, 'downloading');
  assert.equal(halfway.bytesPresent, 6 * 1024 ** 3);
  await clock.advance(122_880);
  await download;
  assert.equal((await backend.installedModels())[0]!.status, 'available');
  assert.ok(!((await run(clock, backend, request(outputDir, { modelId: 't2v-A14B' }))) instanceof Error));
});

await test('an image-to-video model refuses a request without an image', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup();
  const error = assertError(await run(clock, backend, request(outputDir, { modelId: 'i2v-A14B' })));
  assert.equal(error.message, 'ValueError: i2v-A14B needs an input image');
});

await test('freeGpuMemory clears fragmented cache and unloadModels releases idle weights', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup();
  await run(clock, backend, request(outputDir));
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 3.65 });
  const freeing = backend.freeGpuMemory(NEVER);
  await clock.advance(500);
  await freeing;
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 3.5 });
  const unloading = backend.unloadModels(NEVER);
  await clock.advance(1_000);
  await unloading;
  assert.deepEqual(await backend.loadedModels(), []);
  assert.deepEqual(await backend.vram(), { totalGb: 24, usedGb: 0.5 });
});

await test('bad options are rejected naming the field', () => {
  assert.throws(() => new SimulatedBackend({ vramGb: -1 }, { clock: new ManualClock() }), /vramGb/);
  assert.throws(() => new SimulatedBackend({ installed: ['nope'] }, { clock: new ManualClock() }), /installed\[0\]/);
});

await test('a crash fails every running job, and a restart stops running jobs with exit code 143', LIMIT, async () => {
  const { clock, backend, outputDir } = await setup({ slots: 2 });
  backend.faults.inject({ kind: 'crash', atFraction: 0.5 });
  const crashing = start(backend, request(outputDir));
  const bystander = start(backend, request(outputDir));
  await clock.advance(60_000);
  await assert.rejects(crashing.promise, { message: 'pipeline process exited with code 137 (SIGKILL)' });
  await assert.rejects(bystander.promise, { message: 'pipeline process exited with code 137 (SIGKILL)', exitCode: 137 });

  const restart = backend.restartPipeline(NEVER);
  await clock.advance(20_000);
  await restart;
  const running = start(backend, request(outputDir));
  await clock.advance(10_000);
  const again = backend.restartPipeline(NEVER);
  await clock.advance(1);
  await assert.rejects(running.promise, { message: 'pipeline process exited with code 143 (SIGTERM)', signal: 'SIGTERM' });
  await clock.advance(20_000);
  await again;
  assert.equal(backend.pipelineState, 'running');
});

await rm(outputRoot, { recursive: true, force: true });
