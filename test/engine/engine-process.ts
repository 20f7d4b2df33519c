/**
 * The engine in a process of its own, for the crash test: `submit N` accepts N jobs (printing each id once its write
 * is durable) and keeps running; `drain` restarts on the same data dir, waits until every job has finished and
 * prints their states as JSON.
 */
import { createUnderstudy } from '../../src/composition/index.js';
import { calmProbe } from './fixtures.js';

const [mode, dataDir, count] = process.argv.slice(2);
const engine = await createUnderstudy(
  { dataDir: dataDir!, healthIntervalSeconds: 0, jobs: { leaseMs: 1000 }, scheduling: { tickMs: 100 }, simulated: { timeScale: 0.005 } },
  { probe: calmProbe },
);
await engine.start();
if (mode === 'submit') {
  engine.onEvent((e) => {
    if (e.type === 'job.started') process.stdout.write(`started ${e.jobId}\n`);
  });
  for (let i = 0; i < Number(count); i++) {
    const { job } = await engine.submit({ model: 'ti2v-5B', prompt: `job ${i}` });
    process.stdout.write(`accepted ${job.id}\n`);
  }
} else {
  await engine.onIdle();
  const { jobs } = await engine.list({ limit: 1000 });
  process.stdout.write(`${JSON.stringify(jobs.map((j) => ({ id: j.id, status: j.status, attempts: j.attempts })))}\n`);
  await engine.close(0);
}
