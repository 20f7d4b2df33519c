import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('the README library example runs as written', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/planning.ts'], { cwd: new URL('..', import.meta.url) });
  const lines = stdout.trim().split('\n');
  assert.match(lines[0]!, /^suggestion: ti2v-5B 0\.73 /);
  assert.equal(lines[1], 'excluded: t2v-A14B: t2v-A14B cannot take an input image');
  assert.match(lines[2]!, /^strategy: alternative_model on ti2v-5B: i2v-A14B is not downloaded\./);
  assert.match(lines[3]!, /^wait for t2v-A14B: 246 s \(medium\)/);
});

test('the README engine example submits a job for a missing model and prints its timeline', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/submit-job.ts'], { cwd: new URL('..', import.meta.url), timeout: 60_000 });
  const lines = stdout.trim().split('\n');
  assert.equal(lines[0], 'plan: alternative_model on ti2v-5B');
  assert.deepEqual(lines.slice(1, -1).map((l) => l.split(':')[0]), ['accepted', 'planned', 'queued', 'estimate', 'started', 'succeeded', 'estimate']);
  assert.match(lines[2]!, /i2v-A14B is not downloaded\. Running on ti2v-5B instead/);
  assert.match(lines[4]!, /^estimate: first promise: starts now, result in about 2 s/);
  assert.match(lines[7]!, /^estimate: result after \d+ s; first promised 2 s \([+-]\d+ %\)/);
  assert.match(lines.at(-1)!, /^output: image\/gif, \d+ bytes, preview: false$/);
});
