/**
 * Downloads in parallel ranged segments against a real loopback server: each byte fetched once, resume after a real
 * SIGKILL fetching only the missing segments, servers without Range, files that change mid-way, a segment that
 * fails and recovers, fewer connections after failures, statuses that are never retried, digest mismatches.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ManualClock } from '../../src/runtime/clocks.js';
import { isDownloadError, type DownloadError } from '../../src/adapters/model-files/download-errors.js';
import { ModelDownloader, type DownloaderOptions } from '../../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { ScriptedServer, catalogFile, generateFile, makeTempDir, removeDir, sendFile, until } from './helpers.js';

const KIB = 1024;
/** 1 MiB in four segments of 256 KiB (connections 4, minSegmentBytes 64 KiB). */
const SIZE = 1024 * KIB;
const SEGMENT = 256 * KIB;
const SEGMENTED: DownloaderOptions = { connections: 4, minSegmentBytes: 64 * KIB, fsync: false, initialBackoffMs: 1000 };

let server: ScriptedServer;
let root: string;
let clock: ManualClock;

beforeEach(async () => {
  server = await ScriptedServer.start();
  root = await makeTempDir();
  clock = new ManualClock();
});

afterEach(async () => {
  await server.close();
  await removeDir(root);
});

function makeDownloader(options: DownloaderOptions = {}): ModelDownloader {
  return new ModelDownloader({ directory: new ModelsDirectory({ root: join(root, 'models') }), clock, random: () => 0.5 }, { ...SEGMENTED, ...options });
}

async function failureOf(promise: Promise<unknown>): Promise<DownloadError> {
  const error = await promise.then(
    () => assert.fail('expected the download to fail'),
    (e: unknown) => e,
  );
  assert.ok(isDownloadError(error), `expected a DownloadError, got ${String(error)}`);
  return error;
}

/** The Range header of each request to `path`. */
function rangesOf(path: string): (string | undefined)[] {
  return server.requestsFor(path).map((r) => r.range);
}

const segmentRange = (index: number, from = index * SEGMENT): string => `bytes=${from}-${(index + 1) * SEGMENT - 1}`;

/** Polls (real time) until `predicate` holds, for a state another process reaches; fails after 20 s. */
async function poll(predicate: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = performance.now() + 20_000; !(await predicate()); ) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('segmented downloads', () => {
  it('fetches a file over 4 connections at once, each byte once, after a probe of the first segment', async () => {
    const file = generateFile(SIZE);
    let sent = 0;
    let arrived = 0;
    let allIn = (): void => undefined;
    const gate = new Promise<void>((resolve) => (allIn = resolve));
    const ports = new Set<number>();
    server.on('/m.bin', (req, res) => {
      ports.add(req.socket.remotePort as number);
      // Each answer's head goes out at once, its body once all four requests are in: four connections at a time.
      sent += sendFile(req, res, file.body, { bodyAfter: gate });
      if (++arrived === 4) allIn();
    });
    const result = await makeDownloader().download(catalogFile('m.bin', file, [server.url('/m.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(await readFile(join(root, 'models', 'm.bin')), file.body);
    assert.deepEqual(rangesOf('/m.bin'), [0, 1, 2, 3].map((i) => segmentRange(i)));
    assert.equal(sent, SIZE, 'every byte sent once');
    assert.equal(ports.size, 4, 'four connections');
    assert.deepEqual(await readdir(join(root, 'models')), ['m.bin'], 'no partial file or segment record is left');
  });

  it('resumes after SIGKILL of the downloading process, fetching only the segments (and bytes) still missing', async () => {
    const file = generateFile(SIZE);
    const cut = 100 * KIB;
    let crashed = false;
    let sentBefore = 0;
    let sentAfter = 0;
    server.on('/m.bin', (req, res) => {
      const start = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      // Before the crash: the first two segments whole, the last two 100 KiB each, then silence.
      if (!crashed) sentBefore += sendFile(req, res, file.body, start >= 2 * SEGMENT ? { holdAfterBytes: cut } : {});
      else sentAfter += sendFile(req, res, file.body);
    });
    const models = join(root, 'models');
    const entry = catalogFile('m.bin', file, [server.url('/m.bin')]);
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, 'download-child.ts'), JSON.stringify(entry), models, JSON.stringify({ ...SEGMENTED, progressIntervalMs: 20 })],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const exited = once(child, 'exit');
    const recordPath = join(models, 'm.bin.part.segments');
    const recorded = async (): Promise<number[]> =>
      existsSync(recordPath) ? (JSON.parse(await readFile(recordPath, 'utf8')) as { segments: number[][] }).segments.map((s) => s[2] as number) : [];
    await poll(async () => (await recorded()).join() === [SEGMENT, SEGMENT, cut, cut].join(), 'the record of two whole segments and two cut ones');
    child.kill('SIGKILL');
    const [, signal] = (await exited) as [number | null, string];
    assert.equal(signal, 'SIGKILL');
    crashed = true;
    assert.equal(sentBefore, 2 * SEGMENT + 2 * cut);
    const requestsBefore = server.requests.length;

    const result = await makeDownloader().download(entry);
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(await readFile(join(models, 'm.bin')), file.body);
    assert.deepEqual(
      rangesOf('/m.bin').slice(requestsBefore),
      [segmentRange(2, 2 * SEGMENT + cut), segmentRange(3, 3 * SEGMENT + cut)],
      'only the missing parts of the cut segments are asked for',
    );
    assert.equal(sentAfter, 2 * (SEGMENT - cut), 'the server sent only the missing bytes');
    assert.equal(existsSync(recordPath), false);
  });

  it('fetches the whole file on one connection from a server that ignores Range, and restarts a recorded download there', async () => {
    const file = generateFile(SIZE);
    let sent = 0;
    server.on('/m.bin', (req, res) => (sent += sendFile(req, res, file.body, { ignoreRange: true })));
    const result = await makeDownloader().download(catalogFile('m.bin', file, [server.url('/m.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(rangesOf('/m.bin'), [segmentRange(0)], 'the probe of the first segment got the whole file');
    assert.equal(sent, SIZE);
    assert.deepEqual(await readdir(join(root, 'models')), ['m.bin']);
  });

  for (const honourIfRange of [true, false]) {
    it(`starts over on one connection when the ETag changes mid-way (${honourIfRange ? 'If-Range honoured' : 'If-Range ignored'})`, async () => {
      const file = generateFile(SIZE);
      server.on('/m.bin', (req, res, count) => sendFile(req, res, file.body, { etag: count <= 2 ? '"v1"' : '"v2"', honourIfRange }));
      const result = await makeDownloader().download(catalogFile('m.bin', file, [server.url('/m.bin')]));
      assert.equal(result.sha256, file.sha256);
      const requests = server.requestsFor('/m.bin');
      assert.equal(requests[1]?.headers['if-range'], '"v1"', 'ranges after the first carry its ETag');
      if (honourIfRange) assert.equal(requests.length, 4, 'an answer to If-Range (200) becomes the whole file');
      else assert.deepEqual([requests.length, requests.at(-1)?.range], [5, undefined], 'one more request, for the whole file');
      assert.deepEqual(await readdir(join(root, 'models')), ['m.bin']);
    });
  }

  it('refuses a server whose size changes mid-way, and takes the missing segments from the next URL', async () => {
    const file = generateFile(SIZE);
    let changingRequests = 0;
    server
      .on('/changing.bin', (req, res) => sendFile(req, res, file.body, ++changingRequests === 1 ? {} : { announcedSize: SIZE + 1 }))
      .on('/mirror.bin', (req, res) => sendFile(req, res, file.body));
    const alone = await failureOf(makeDownloader().download(catalogFile('a.bin', file, [server.url('/changing.bin')])));
    assert.equal(alone.code, 'size_mismatch');
    assert.match(alone.message, new RegExp(`serves ${SIZE + 1} bytes; the catalog declares ${SIZE}`));

    changingRequests = 0;
    const result = await makeDownloader().download(catalogFile('b.bin', file, [server.url('/changing.bin'), server.url('/mirror.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.equal(rangesOf('/mirror.bin').includes(segmentRange(0)), false, 'the segment already fetched is kept');
  });

  it('retries a segment whose connection drops from the byte it reached, while the others finish', async () => {
    const file = generateFile(SIZE);
    const dropAt = 10 * KIB;
    let dropped = false;
    server.on('/m.bin', (req, res) => {
      const failing = req.headers.range === segmentRange(2) && !dropped;
      dropped ||= failing;
      sendFile(req, res, file.body, failing ? { dropAfterBytes: dropAt } : {});
    });
    const downloader = makeDownloader();
    const download = downloader.download(catalogFile('m.bin', file, [server.url('/m.bin')]));
    await until(() => downloader.stateOf('m.bin')?.phase === 'retrying', 'the retry once the other segments are done');
    const state = downloader.stateOf('m.bin');
    assert.equal(state?.bytesDone, 3 * SEGMENT + dropAt, 'the other segments are complete, the failed one kept what it got');
    assert.equal(state?.error?.code, 'network');
    await clock.advance(1000);
    assert.equal((await download).sha256, file.sha256);
    const ranges = rangesOf('/m.bin');
    assert.deepEqual(ranges.filter((r) => r?.startsWith(`bytes=${2 * SEGMENT}`) || r?.startsWith(`bytes=${2 * SEGMENT + dropAt}`)), [
      segmentRange(2),
      segmentRange(2, 2 * SEGMENT + dropAt),
    ]);
    assert.equal(ranges.length, 5, 'each other segment once');
  });

  it('falls back to fewer connections when segments fail, retrying them only as the others free a connection', async () => {
    const file = generateFile(SIZE);
    // Like a mirror that takes two connections per client: a third and fourth at once get a 503.
    let inFlight = 0;
    let mostAfterRefusals = 0;
    let refused = 0;
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    server.on('/m.bin', (req, res) => {
      if (inFlight >= 2) {
        refused++;
        res.writeHead(503).end();
        return;
      }
      inFlight++;
      if (refused > 0) mostAfterRefusals = Math.max(mostAfterRefusals, inFlight);
      res.on('close', () => inFlight--);
      sendFile(req, res, file.body, { bodyAfter: held });
    });
    const downloader = makeDownloader();
    const download = downloader.download(catalogFile('m.bin', file, [server.url('/m.bin')]));
    await until(() => refused === 2, 'two segments refused');
    const attempts = downloader.stateOf('m.bin')?.attempt;
    assert.equal(attempts, 4);
    await clock.advance(2000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(downloader.stateOf('m.bin')?.attempt, 4, 'after their backoff the refused segments wait for a connection');
    assert.equal(refused, 2);
    release();
    assert.equal((await download).sha256, file.sha256);
    assert.equal(refused, 2, 'never refused again');
    assert.ok(mostAfterRefusals <= 2, `at most 2 connections at once after the refusals (saw ${mostAfterRefusals})`);
    assert.equal(server.requestsFor('/m.bin').length, 6);
  });

  it('never retries a 404 or 403 on a segment, and keeps what the other segments wrote', async () => {
    const file = generateFile(SIZE);
    server.on('/m.bin', (req, res) => (req.headers.range === segmentRange(3) ? res.writeHead(403).end() : sendFile(req, res, file.body)));
    const downloader = makeDownloader({ maxRetries: 5 });
    const error = await failureOf(downloader.download(catalogFile('m.bin', file, [server.url('/m.bin')])));
    assert.equal(error.code, 'forbidden');
    assert.equal(rangesOf('/m.bin').filter((r) => r === segmentRange(3)).length, 1, 'asked once');
    assert.equal(clock.pendingTimers, 0, 'no retry is scheduled');
    const record = JSON.parse(await readFile(join(root, 'models', 'm.bin.part.segments'), 'utf8')) as { segments: number[][] };
    assert.equal(record.segments[3]?.[2], 0);
    const part = await readFile(join(root, 'models', 'm.bin.part'));
    for (const [start = 0, , done = 0] of record.segments) {
      assert.deepEqual(part.subarray(start, start + done), file.body.subarray(start, start + done), 'the record says what is on disk');
    }
  });

  it('deletes a segmented file that fails verification, fetches it once more, then fails naming both digests', async () => {
    const served = generateFile(SIZE);
    const declared = generateFile(SIZE);
    server.on('/bad.bin', (req, res) => sendFile(req, res, served.body));
    const error = await failureOf(makeDownloader().download(catalogFile('bad.bin', declared, [server.url('/bad.bin')])));
    assert.equal(error.code, 'checksum_mismatch');
    assert.equal(error.expectedSha256, declared.sha256);
    assert.equal(error.actualSha256, served.sha256);
    assert.match(error.message, new RegExp(`expected sha256 ${declared.sha256}, got ${served.sha256}`));
    assert.deepEqual(rangesOf('/bad.bin'), [0, 1, 2, 3, 0, 1, 2, 3].map((i) => segmentRange(i)));
    assert.deepEqual(await readdir(join(root, 'models')), [], 'no partial file or record is left');
  });

  it('fetches over one connection for a host configured so, and validates connections', () => {
    assert.throws(() => makeDownloader({ connections: 0 }), /connections/);
    assert.throws(() => makeDownloader({ connectionsPerHost: { 'https://x/': 2 } }), /connectionsPerHost/);
  });
});
