/**
 * A worker process for the multi-process claim test: opens the job store at argv[2], says `ready` on stderr, waits
 * for a line on stdin (so that every worker starts at once), then claims jobs as owner argv[3] until none is left,
 * completing each, and prints the ids it ran as JSON.
 */
import { once } from 'node:events';
import { SqliteJobStore } from '../../src/adapters/sqlite/index.js';
import { ManualClock } from '../../src/runtime/clocks.js';

const [path, owner] = process.argv.slice(2);
if (!path || !owner) throw new Error('usage: claim-loop.ts DB_PATH OWNER');
const store = new SqliteJobStore({ path, clock: new ManualClock(), maxQueueSize: 10_000 });
process.stderr.write('ready\n');
await once(process.stdin, 'data');
const ran: string[] = [];
for (let job = await store.claimNext({ owner }); job; job = await store.claimNext({ owner })) {
  await store.complete(job.id, owner, { path: `/outputs/${job.id}.mp4`, mediaType: 'video/mp4', sizeBytes: 1, isPreview: false });
  ran.push(job.id);
}
await store.close();
process.stdout.write(JSON.stringify(ran));
process.stdin.destroy();
