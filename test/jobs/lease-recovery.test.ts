import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PRIORITIES } from '../../src/core/vocabulary.js';
import { newJob, storeFixture } from './job-fixtures.js';

test('worker processes claiming from one file at once run every job exactly once', async (t) => {
  const { store, path } = storeFixture(t, { maxQueueSize: 10_000 });
  const total = 200;
  for (let i = 0; i < total; i++) await store.enqueue(newJob({ id: `job-${i}`, priority: PRIORITIES[i % 4] }));
  const workers = ['worker-a', 'worker-b', 'worker-c'].map((owner) => startClaimLoop(path, owner));
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.go();
  const runs = await Promise.all(workers.map((w) => w.ran));

  const ran = runs.flat();
  assert.equal(ran.length, total, 'no job ran twice');
  assert.equal(new Set(ran).size, total, 'no job was missed');
  const jobs = (await store.list({ limit: 1000 })).jobs;
  assert.ok(jobs.every((j) => j.attempts === 1 && j.status === 'succeeded'));
});

/** Starts claim-loop.ts in its own process; `go()` lets it start claiming once it is `ready`. */
function startClaimLoop(path: string, owner: string): { ready: Promise<void>; go: () => void; ran: Promise<string[]> } {
  const script = fileURLToPath(new URL('./claim-loop.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), script, path, owner], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('ready')) resolve();
    });
    child.on('close', (code) => reject(new Error(`${owner} exited ${code} before it was ready: ${stderr}`)));
  });
  const ran = new Promise<string[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as string[]) : reject(new Error(`${owner} exited ${code}: ${stderr}`))));
  });
  return { ready, go: () => child.stdin.write('go\n'), ran };
}
