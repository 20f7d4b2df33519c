/**
 * Progress of a segmented download: bytes, speed and ETA are the file's, summed over all its connections; a pause
 * keeps every segment's bytes and a resume asks each for the rest.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import { ManualClock } from '../../src/runtime/clocks.js';
import { ModelDownloader, type DownloadProgress } from '../../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { ScriptedServer, catalogFile, generateFile, makeTempDir, removeDir, sendFile, until } from './helpers.js';

const KIB = 1024;
const SIZE = 1024 * KIB;

let server: ScriptedServer;
let root: string;

beforeEach(async () => {
  server = await ScriptedServer.start();
  root = await makeTempDir();
});

afterEach(async () => {
  await server.close();
  await removeDir(root);
});

it('reports bytes, speed and ETA across all four connections, and the file speed to the wait estimator', async () => {
  const file = generateFile(SIZE);
  const open = new Map<number, { res: ServerResponse; at: number; end: number }>();
  server.on('/m.bin', (req, res) => {
    const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
    const start = Number(from);
    const end = Number(to) + 1;
    res.writeHead(206, { 'content-length': end - start, 'content-range': `bytes ${start}-${end - 1}/${SIZE}` });
    res.flushHeaders();
    open.set(start, { res, at: start, end });
  });
  const clock = new ManualClock();
  const downloader = new ModelDownloader(
    { directory: new ModelsDirectory({ root: join(root, 'models') }), clock, random: () => 0.5 },
    { connections: 4, minSegmentBytes: 64 * KIB, fsync: false, progressIntervalMs: 1000, speedSmoothing: 1 },
  );
  const progress: DownloadProgress[] = [];
  downloader.onProgress((p) => progress.push(p));
  const download = downloader.download(catalogFile('m.bin', file, [server.url('/m.bin')]));
  await until(() => open.size === 4, 'four connections');

  let sent = 0;
  for (const perConnection of [16 * KIB, 4 * KIB]) {
    for (const segment of open.values()) {
      segment.res.write(file.body.subarray(segment.at, segment.at + perConnection));
      segment.at += perConnection;
      sent += perConnection;
    }
    await until(() => downloader.stateOf('m.bin')?.bytesDone === sent, `${sent} bytes on disk`);
    await clock.advance(1000);
    const p = progress.at(-1) as DownloadProgress;
    assert.equal(p.bytesDone, sent);
    assert.equal(p.bytesPerSecond, 4 * perConnection, 'the speed of all four connections');
    assert.equal(p.etaSeconds, (SIZE - sent) / (4 * perConnection));
    assert.equal(downloader.measuredBytesPerSecond, 4 * perConnection, 'the file speed, not one connection');
  }
  for (const segment of open.values()) segment.res.end(file.body.subarray(segment.at, segment.end));
  assert.equal((await download).sha256, file.sha256);
});

it('pauses a segmented download keeping each segment\'s bytes, and resumes each from where it stopped', async () => {
  const file = generateFile(SIZE);
  const first = 16 * KIB;
  let held = 0;
  let closed = 0;
  server.on('/m.bin', (req, res) => {
    if (held === 4) return void sendFile(req, res, file.body);
    held++;
    const start = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1]);
    res.writeHead(206, { 'content-length': 256 * KIB, 'content-range': `bytes ${start}-${start + 256 * KIB - 1}/${SIZE}` });
    res.write(file.body.subarray(start, start + first));
    res.on('close', () => closed++);
  });
  const downloader = new ModelDownloader(
    { directory: new ModelsDirectory({ root: join(root, 'models') }), clock: new ManualClock(), random: () => 0.5 },
    { connections: 4, minSegmentBytes: 64 * KIB, fsync: false },
  );
  const download = downloader.download(catalogFile('m.bin', file, [server.url('/m.bin')]));
  await until(() => downloader.stateOf('m.bin')?.bytesDone === 4 * first, 'the first bytes of each segment');
  assert.equal(downloader.pause('m.bin'), true);
  await until(() => closed === 4, 'all four connections closed');
  assert.equal(downloader.stateOf('m.bin')?.phase, 'paused');
  assert.equal(downloader.resume('m.bin'), true);
  assert.equal((await download).sha256, file.sha256);
  const resumed = server.requestsFor('/m.bin').slice(4).map((r) => r.range);
  assert.deepEqual(
    resumed.sort(),
    [0, 1, 2, 3].map((i) => `bytes=${i * 256 * KIB + first}-${(i + 1) * 256 * KIB - 1}`),
  );
});
