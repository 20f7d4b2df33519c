// Shared setup of the ComfyUI adapter tests: a backend on a fake server, requests, progress recording, temp dirs.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { ComfyUiBackend } from '../../src/adapters/comfyui/comfyui-backend.js';
import type { ComfyUiConfigInput } from '../../src/adapters/comfyui/comfyui-config.js';
import type { BackendEvent, GeneratedOutput, GenerationRequest } from '../../src/runtime/backend.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { FakeComfyUi, type FakeComfyUiOptions } from './fake-comfyui.js';

/** Every test fails rather than hangs. */
export const LIMIT = { timeout: 20_000 };

const root = await mkdtemp(join(tmpdir(), 'understudy-comfyui-'));
after(() => rm(root, { recursive: true, force: true }));

/** A fresh directory under the tests' temporary root. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(root, `${prefix}-`));
}

/** Names of the files in `dir`, hidden ones included. */
export function filesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** A fake ComfyUI and a backend pointing at it, on a manual clock; the fake is closed after the test. */
export async function setup(t: TestContext, config: ComfyUiConfigInput = {}, fakeOptions: FakeComfyUiOptions = {}) {
  const fake = await FakeComfyUi.start(fakeOptions);
  t.after(() => fake.close());
  const clock = new ManualClock();
  const backend = await ComfyUiBackend.create({ id: 'comfy-test', url: fake.url, ...config }, { clock });
  const events: BackendEvent[] = [];
  backend.onEvent((event) => events.push(event));
  const outputDir = await tempDir('out');
  return { fake, clock, backend, events, outputDir };
}

let jobs = 0;

type RequestOverrides = Partial<Omit<GenerationRequest, 'settings'>> & { settings?: Partial<GenerationRequest['settings']> };

/** A t2v-A14B request at 1280x704, 81 frames, 20 steps, seed 42, unless overridden. */
export function request(outputDir: string, overrides: RequestOverrides = {}): GenerationRequest {
  const { settings, ...rest } = overrides;
  return {
    jobId: `job-${++jobs}`,
    modelId: 't2v-A14B',
    prompt: 'a red fox runs across a snowy field at dawn',
    outputDir,
    ...rest,
    settings: { resolution: '1280x704', quality: 'medium', numFrames: 81, steps: 20, seed: 42, ...settings },
  };
}

/**
 * A generation started on `backend`, with its progress reports, whether it has settled, and `reported(message)`:
 * resolves once a report with that message has arrived (fails after 5 s).
 */
export function start(backend: ComfyUiBackend, job: GenerationRequest, signal: AbortSignal = new AbortController().signal) {
  const progress: Array<[number, string]> = [];
  const state = { settled: false };
  const waiters = new Set<() => void>();
  const promise: Promise<GeneratedOutput> = backend.generate(job, {
    signal,
    onProgress: (fraction, message) => {
      progress.push([fraction, message]);
      for (const waiter of [...waiters]) waiter();
    },
  });
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  const reported = (message: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!progress.some(([, m]) => m === message)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no progress report "${message}"; got ${JSON.stringify(progress)}`));
      }, 5000);
      waiters.add(check);
      check();
    });
  return { promise, progress, state, reported };
}

/** The rejection of `promise` (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

/** A port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export { ManualClock };
