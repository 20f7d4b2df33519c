import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidationError } from '../../src/core/validation.js';
import { ScriptedServer, catalogFile, generateFile, makeTempDir, sendFile } from '../model-files/helpers.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { createUnderstudy } from '../../src/composition/index.js';
import type { UnderstudyEvent } from '../../src/runtime/engine-events.js';
import { calmProbe, instantLogSync, startEngine } from './fixtures.js';

test('download_and_retry fetches the real files, verifies them, and the waiting job then runs', async () => {
  const server = await ScriptedServer.start();
  const file = generateFile(96 * 1024);
  server.on('/t2v.safetensors', (req, res) => sendFile(req, res, file.body));
  const dir = await makeTempDir();
  const catalogPath = join(dir, 'catalog.json');
  await writeFile(
    catalogPath,
    JSON.stringify({ models: [{ id: 't2v-A14B', files: [catalogFile('diffusion_models/t2v.safetensors', file, [server.url('/t2v.safetensors')])] }] }),
  );
  // The engine's own simulated GPU, which sees the files the engine downloads.
  const clock = new ManualClock();
  const engine = await createUnderstudy(
    {
      dataDir: join(dir, 'data'),
      healthIntervalSeconds: 0,
      catalogFile: catalogPath,
      modelFiles: { dir: join(dir, 'models'), layout: 'comfyui', allowedHosts: ['127.0.0.1'], headers: { authorization: 'Bearer hf_test' } },
      simulated: { timeScale: 0.01, installedModels: ['ti2v-5B'] },
    },
    { clock, probe: calmProbe, syncJobLog: instantLogSync },
  );
  const events: UnderstudyEvent[] = [];
  engine.onEvent((e) => events.push(e));
  await engine.start();
  const h = { engine, clock, events };
  try {
    const models = await h.engine.models();
    assert.equal(models.find((m) => m.model.id === 't2v-A14B')!.status.status, 'missing');
    const { job } = await h.engine.submit({ model: 't2v-A14B', prompt: 'a harbour at dawn' });
    assert.equal(job.plan.strategyType, 'download_and_retry');
    assert.equal(job.status, 'waiting_for_model');
    // Hashing runs on a worker thread in real time: let real time pass between steps of the manual clock.
    for (let i = 0; (await h.engine.get(job.id))?.status !== 'succeeded'; i++) {
      assert.ok(i < 2000, 'the job finishes within 2,000 steps');
      await h.clock.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(server.requestsFor('/t2v.safetensors').length, 1);
    assert.equal(server.requestsFor('/t2v.safetensors')[0]!.headers.authorization, 'Bearer hf_test', 'modelFiles.headers are sent');
    assert.ok(h.events.some((e) => e.type === 'download.progress' && e.modelId === 't2v-A14B'));
    assert.ok(h.events.some((e) => e.type === 'job.released' && e.jobId === job.id));
    const verified = await h.engine.verifyModel('t2v-A14B');
    assert.equal(verified.status.status, 'available');
    assert.deepEqual(verified.files.map((f) => [f.path, f.verified]), [['diffusion_models/t2v.safetensors', true]]);
    assert.ok(h.engine.manager.learner.downloadBytesPerSecond, 'the measured download speed feeds the estimator');
  } finally {
    await engine.close(0);
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('verify is refused, naming the field, when the backend manages the files', async () => {
  const h = await startEngine();
  try {
    await assert.rejects(h.engine.verifyModel('ti2v-5B'), (e: unknown) => isValidationError(e) && e.issues[0]!.field === 'model');
    await assert.rejects(h.engine.downloadModel('nope'), (e: unknown) => isValidationError(e));
  } finally {
    await h.close();
  }
});

test('modelFiles.headers that could split a request are refused, naming the header', async () => {
  const dir = await makeTempDir();
  try {
    await assert.rejects(
      createUnderstudy(
        { dataDir: join(dir, 'data'), healthIntervalSeconds: 0, modelFiles: { dir: join(dir, 'models'), headers: { authorization: 'x\r\nhost: evil' } } },
        { clock: new ManualClock(), probe: calmProbe, syncJobLog: instantLogSync },
      ),
      (e: unknown) => isValidationError(e) && e.issues[0]!.field === 'modelFiles.headers.authorization',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('modelFiles.caFile must name a readable PEM file, and the error names the field', async () => {
  const dir = await makeTempDir();
  try {
    const notPem = join(dir, 'ca.txt');
    await writeFile(notPem, 'not a certificate');
    for (const caFile of [notPem, join(dir, 'missing.pem')]) {
      await assert.rejects(
        createUnderstudy(
          { dataDir: join(dir, 'data'), healthIntervalSeconds: 0, modelFiles: { dir: join(dir, 'models'), caFile } },
          { clock: new ManualClock(), probe: calmProbe, syncJobLog: instantLogSync },
        ),
        (e: unknown) => isValidationError(e) && e.issues[0]!.field === 'modelFiles.caFile' && e.issues[0]!.problem.includes(caFile),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
