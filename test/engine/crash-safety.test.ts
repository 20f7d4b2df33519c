import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const script = new URL('./engine-process.ts', import.meta.url).pathname;

test('an engine process killed with SIGKILL loses no accepted job: a restart finishes every one', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'understudy-crash-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', script, 'submit', dataDir, '6'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const accepted: string[] = [];
    let started = 0;
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('the engine process did not start a job in time')), 60_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        const [word, id] = line.split(' ');
        if (word === 'accepted') accepted.push(id!);
        if (word === 'started') started++;
        // Kill mid-run: every job accepted, one running.
        if (accepted.length === 6 && started >= 1) {
          clearTimeout(deadline);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error('the engine process exited on its own')));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));

    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, 'drain', dataDir], { timeout: 120_000 });
    const jobs = JSON.parse(stdout.trim().split('\n').pop()!) as Array<{ id: string; status: string; attempts: number }>;
    assert.deepEqual(jobs.map((j) => j.id).sort(), [...accepted].sort(), 'every accepted job is still there');
    assert.ok(jobs.every((j) => j.status === 'succeeded'), JSON.stringify(jobs));
    assert.ok(jobs.some((j) => j.attempts >= 2), 'the job killed mid-run was run again');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
