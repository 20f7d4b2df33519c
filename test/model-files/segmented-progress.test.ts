/** Progress of a segmented download: bytes, speed and ETA are the file's, summed over all its connections. */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import { ManualClock } from '../../src/runtime/clocks.js';
import { ModelDownloader, type DownloadProgress } from '../../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { ScriptedServer, catalogFile, generateFile, makeTempDir, removeDir, until } from './helpers.js';

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
