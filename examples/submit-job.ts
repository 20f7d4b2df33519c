// Submits a job for a model that is not downloaded and prints its timeline, on embedded defaults
// (a SQLite file in a temporary data dir, the simulated GPU with only ti2v-5B installed).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUnderstudy } from '../src/index.js';

const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const engine = await createUnderstudy({ dataDir: await mkdtemp(join(tmpdir(), 'understudy-example-')), healthIntervalSeconds: 0 });
await engine.start();
const { job } = await engine.submit({ model: 'i2v-A14B', prompt: 'the statue turns its head', image: PNG, quality: 'high' });
console.log(`plan: ${job.plan.strategyType} on ${job.modelUsed}`);
await engine.onIdle();
const done = (await engine.get(job.id))!;
for (const entry of done.timeline.filter((e) => e.kind !== 'progress')) console.log(`${entry.kind}: ${entry.message}`);
console.log(`output: ${done.output?.mediaType}, ${done.output?.sizeBytes} bytes, preview: ${done.output?.isPreview}`);
await engine.close();
