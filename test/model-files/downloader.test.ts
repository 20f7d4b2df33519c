import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ServerResponse } from 'node:http';
import type { ModelDescriptor } from '../../src/core/catalog.js';
import { isValidationError } from '../../src/core/validation.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { DigestCache } from '../../src/adapters/model-files/digest-cache.js';
import { isDownloadError, type DownloadError } from '../../src/adapters/model-files/download-errors.js';
import {
  ModelDownloader,
  type DownloadProgress,
  type DownloadState,
  type DownloaderDependencies,
  type DownloaderOptions,
} from '../../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { ScriptedServer, catalogFile, generateFile, makeTempDir, removeDir, sendFile, until } from './helpers.js';

const KIB = 1024;
const MIB = 1024 * KIB;

let server: ScriptedServer;
let root: string;
let clock: ManualClock;
let directory: ModelsDirectory;

beforeEach(async () => {
  server = await ScriptedServer.start();
  root = await makeTempDir();
  clock = new ManualClock();
  directory = new ModelsDirectory({ root: join(root, 'models') });
});

afterEach(async () => {
  await server.close();
  await removeDir(root);
});

/** A downloader on the manual clock with 1 s initial backoff and no jitter unless told otherwise. */
function makeDownloader(options: DownloaderOptions = {}, dependencies: Partial<DownloaderDependencies> = {}): ModelDownloader {
  return new ModelDownloader(
    { directory, clock, random: () => 0.5, ...dependencies },
    { initialBackoffMs: 1000, fsync: false, ...options },
  );
}

/** The rejection of `promise`, asserted to be a DownloadError. */
async function failureOf(promise: Promise<unknown>): Promise<DownloadError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isDownloadError(error), `expected a DownloadError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the download to fail');
}

/** Records every state the downloader reports. */
function recordStates(downloader: ModelDownloader): DownloadState[] {
  const states: DownloadState[] = [];
  downloader.onStateChange((s) => states.push(s));
  return states;
}

describe('ModelDownloader', () => {
  it('downloads, verifies and renames a file into place, leaving no partial file', async () => {
    const file = generateFile(300 * KIB);
    server.on('/wan.safetensors', (req, res) => sendFile(req, res, file.body));
    const cache = DigestCache.inMemory();
    const downloader = makeDownloader({}, { digestCache: cache });
    const states = recordStates(downloader);

    const result = await downloader.download(catalogFile('diffusion_models/wan.safetensors', file, [server.url('/wan.safetensors')]), {
      modelId: 't2v-A14B',
    });

    const target = join(root, 'models', 'diffusion_models', 'wan.safetensors');
    assert.deepEqual(result, { path: 'diffusion_models/wan.safetensors', absolutePath: target, sha256: file.sha256, bytes: file.body.length, reused: false });
    assert.deepEqual(await readFile(target), file.body);
    assert.equal(existsSync(`${target}.part`), false);
    assert.equal(server.requests[0]?.range, undefined);
    assert.deepEqual(
      states.map((s) => s.phase),
      ['queued', 'downloading', 'verifying', 'completed'],
    );
    assert.equal(states.at(-1)?.modelId, 't2v-A14B');
    const info = { size: file.body.length, mtimeMs: statSync(target).mtimeMs };
    assert.equal(cache.get(target, info), file.sha256, 'the verified digest is recorded for scans');
  });

  it('reuses a complete, verified file without a request', async () => {
    const file = generateFile(50 * KIB);
    await mkdir(join(root, 'models'), { recursive: true });
    await writeFile(join(root, 'models', 'vae.bin'), file.body);
    const downloader = makeDownloader();
    const result = await downloader.download(catalogFile('vae.bin', file, [server.url('/vae.bin')]));
    assert.equal(result.reused, true);
    assert.equal(server.requests.length, 0);
  });

  it('resumes after the connection drops mid-file, from the exact byte, with the right digest', async () => {
    const file = generateFile(1024 * KIB);
    const dropAt = 300 * KIB;
    server.on('/big.bin', (req, res, count) => sendFile(req, res, file.body, count === 1 ? { dropAfterBytes: dropAt } : {}));
    const downloader = makeDownloader();
    const download = downloader.download(catalogFile('big.bin', file, [server.url('/big.bin')]));

    await until(() => downloader.stateOf('big.bin')?.phase === 'retrying', 'the retry after the drop');
    const retrying = downloader.stateOf('big.bin') as DownloadState;
    assert.equal(retrying.bytesDone, dropAt);
    assert.equal(retrying.error?.code, 'network');
    assert.equal(retrying.error?.httpStatus, 200, 'the error names the status of the response whose body broke off');
    assert.equal((retrying.retryAt as number) - clock.now(), 1000);
    await clock.advance(1000);

    const result = await download;
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(
      server.requestsFor('/big.bin').map((r) => r.range),
      [undefined, `bytes=${dropAt}-`],
    );
    assert.deepEqual(await readFile(join(root, 'models', 'big.bin')), file.body);
  });

  it('resumes a file written in several batches from the exact byte where the connection dropped', async () => {
    const file = generateFile(9 * MIB + 7);
    const dropAt = 6 * MIB + 123;
    server.on('/batches.bin', (req, res, count) => sendFile(req, res, file.body, count === 1 ? { dropAfterBytes: dropAt } : {}));
    const downloader = makeDownloader();
    const download = downloader.download(catalogFile('batches.bin', file, [server.url('/batches.bin')]));

    await until(() => downloader.stateOf('batches.bin')?.phase === 'retrying', 'the retry after the drop');
    assert.equal(downloader.stateOf('batches.bin')?.bytesDone, dropAt, 'every byte received is on disk');
    await clock.advance(1000);

    assert.equal((await download).sha256, file.sha256);
    assert.deepEqual(
      server.requestsFor('/batches.bin').map((r) => r.range),
      [undefined, `bytes=${dropAt}-`],
    );
  });

  it('puts the bytes of a fast transfer on disk within one progress interval, and a slow one at once', async () => {
    const file = generateFile(6 * MIB);
    const fastPart = 5 * MIB;
    let response: ServerResponse | undefined;
    server.on('/fast.bin', (_req, res) => {
      res.writeHead(200, { 'content-length': file.body.length });
      res.write(file.body.subarray(0, fastPart));
      response = res;
    });
    const downloader = makeDownloader({ progressIntervalMs: 1000 });
    const download = downloader.download(catalogFile('fast.bin', file, [server.url('/fast.bin')]));
    await until(() => downloader.stateOf('fast.bin')?.bytesDone === fastPart, 'the first megabytes on disk');

    await clock.advance(1000);
    response?.write(file.body.subarray(fastPart, fastPart + 64 * KIB));
    await clock.advance(1000);
    await until(() => downloader.stateOf('fast.bin')?.bytesDone === fastPart + 64 * KIB, 'the bytes after the fast start on disk');
    response?.write(file.body.subarray(fastPart + 64 * KIB, fastPart + 80 * KIB));
    await until(() => downloader.stateOf('fast.bin')?.bytesDone === fastPart + 80 * KIB, 'a slow chunk on disk without a tick');

    response?.end(file.body.subarray(fastPart + 80 * KIB));
    assert.equal((await download).sha256, file.sha256);
  });

  it('continues a partial file left on disk, hashing it first', async () => {
    const file = generateFile(400 * KIB);
    await mkdir(join(root, 'models'), { recursive: true });
    await writeFile(join(root, 'models', 'te.bin.part'), file.body.subarray(0, 123_456));
    server.on('/te.bin', (req, res) => sendFile(req, res, file.body));
    const result = await makeDownloader().download(catalogFile('te.bin', file, [server.url('/te.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(
      server.requests.map((r) => r.range),
      ['bytes=123456-'],
    );
  });

  it('starts over when the server ignores the range and sends the whole file', async () => {
    const file = generateFile(200 * KIB);
    await mkdir(join(root, 'models'), { recursive: true });
    await writeFile(join(root, 'models', 'x.bin.part'), file.body.subarray(0, 50 * KIB));
    server.on('/x.bin', (req, res) => sendFile(req, res, file.body, { ignoreRange: true }));
    const result = await makeDownloader().download(catalogFile('x.bin', file, [server.url('/x.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(await readFile(join(root, 'models', 'x.bin')), file.body);
  });

  it('deletes a partial file that fails verification and fetches the whole file once more', async () => {
    const file = generateFile(200 * KIB);
    const wrongPrefix = Buffer.alloc(60 * KIB, 7);
    await mkdir(join(root, 'models'), { recursive: true });
    await writeFile(join(root, 'models', 'p.bin.part'), wrongPrefix);
    server.on('/p.bin', (req, res) => sendFile(req, res, file.body));
    const result = await makeDownloader().download(catalogFile('p.bin', file, [server.url('/p.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(
      server.requests.map((r) => r.range),
      [`bytes=${60 * KIB}-`, undefined],
    );
  });

  it('fails with both digests when the file is wrong twice, after deleting it and fetching once more', async () => {
    const served = generateFile(100 * KIB);
    const declared = generateFile(100 * KIB);
    server.on('/bad.bin', (req, res) => sendFile(req, res, served.body));
    const error = await failureOf(makeDownloader().download(catalogFile('bad.bin', declared, [server.url('/bad.bin')])));
    assert.equal(error.code, 'checksum_mismatch');
    assert.equal(error.expectedSha256, declared.sha256);
    assert.equal(error.actualSha256, served.sha256);
    assert.match(error.message, new RegExp(`expected sha256 ${declared.sha256}, got ${served.sha256}`));
    assert.deepEqual(
      server.requests.map((r) => r.range),
      [undefined, undefined],
    );
    assert.deepEqual(await readdir(join(root, 'models')), [], 'no partial or final file is left');
  });

  it('does not retry a 404 or a 403', async () => {
    const file = generateFile(10 * KIB);
    server.on('/forbidden.bin', (_req, res) => res.writeHead(403).end());
    const downloader = makeDownloader();
    const notFound = await failureOf(downloader.download(catalogFile('gone.bin', file, [server.url('/gone.bin')])));
    assert.equal(notFound.code, 'not_found');
    assert.equal(notFound.httpStatus, 404);
    assert.equal(notFound.retryable, false);
    const forbidden = await failureOf(downloader.download(catalogFile('f.bin', file, [server.url('/forbidden.bin')])));
    assert.equal(forbidden.code, 'forbidden');
    assert.equal(server.requests.length, 2);
    assert.equal(clock.pendingTimers, 0, 'no retry is scheduled');
    assert.equal(downloader.stateOf('gone.bin')?.phase, 'failed');
  });

  it('moves on to the next URL after a 404', async () => {
    const file = generateFile(10 * KIB);
    server.on('/mirror.bin', (req, res) => sendFile(req, res, file.body));
    const result = await makeDownloader().download(catalogFile('m.bin', file, [server.url('/missing.bin'), server.url('/mirror.bin')]));
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/missing.bin', '/mirror.bin'],
    );
  });

  it('retries 503 with exponential backoff and jitter on the clock, then succeeds', async () => {
    const file = generateFile(64 * KIB);
    server.on('/flaky.bin', (req, res, count) => (count <= 2 ? res.writeHead(503).end() : sendFile(req, res, file.body)));
    const randoms = [0, 0.75];
    const downloader = makeDownloader({ jitter: 0.2 }, { random: () => randoms.shift() ?? 0.5 });
    const states = recordStates(downloader);
    const download = downloader.download(catalogFile('flaky.bin', file, [server.url('/flaky.bin')]));

    await until(() => states.filter((s) => s.phase === 'retrying').length === 1, 'the first retry');
    assert.equal((downloader.stateOf('flaky.bin')?.retryAt as number) - clock.now(), 800, '1000 ms × (1 − 0.2)');
    await clock.advance(799);
    assert.equal(server.requests.length, 1, 'no request before the backoff has passed');
    await clock.advance(1);
    await until(() => states.filter((s) => s.phase === 'retrying').length === 2, 'the second retry');
    assert.equal(server.requests.length, 2);
    assert.equal((downloader.stateOf('flaky.bin')?.retryAt as number) - clock.now(), 2200, '2000 ms × (1 − 0.2 + 0.4 × 0.75)');
    await clock.advance(2200);
    const result = await download;
    assert.equal(result.sha256, file.sha256);
    assert.equal(server.requests.length, 3);
  });

  it('gives up after maxRetries with the last error and the attempts made', async () => {
    const file = generateFile(10 * KIB);
    server.on('/down.bin', (_req, res) => res.writeHead(502).end());
    const downloader = makeDownloader({ maxRetries: 2 });
    const download = failureOf(downloader.download(catalogFile('down.bin', file, [server.url('/down.bin')])));
    for (let retry = 1; retry <= 2; retry++) {
      await until(() => server.requests.length === retry && downloader.stateOf('down.bin')?.phase === 'retrying', `retry ${retry}`);
      await clock.advance(1000 * 2 ** (retry - 1));
    }
    const error = await download;
    assert.equal(error.code, 'server_error');
    assert.equal(error.attempts, 3);
    assert.match(error.message, /gave up after 3 attempts/);
  });

  it('honours Retry-After on a 429', async () => {
    const file = generateFile(10 * KIB);
    server.on('/busy.bin', (req, res, count) =>
      count === 1 ? res.writeHead(429, { 'retry-after': '30' }).end() : sendFile(req, res, file.body),
    );
    const downloader = makeDownloader();
    const download = downloader.download(catalogFile('busy.bin', file, [server.url('/busy.bin')]));
    await until(() => downloader.stateOf('busy.bin')?.phase === 'retrying', 'the retry');
    const state = downloader.stateOf('busy.bin') as DownloadState;
    assert.equal(state.error?.code, 'rate_limited');
    assert.equal(state.error?.retryAfterMs, 30_000);
    assert.equal((state.retryAt as number) - clock.now(), 30_000);
    await clock.advance(29_999);
    assert.equal(server.requests.length, 1);
    await clock.advance(1);
    assert.equal((await download).sha256, file.sha256);
  });

  it('abandons a stalled transfer after idleTimeoutMs of clock time and resumes it', async () => {
    const file = generateFile(100 * KIB);
    server.on('/stall.bin', (req, res, count) => {
      if (count > 1) return sendFile(req, res, file.body);
      res.writeHead(200, { 'content-length': file.body.length });
      res.write(file.body.subarray(0, 10 * KIB));
    });
    const downloader = makeDownloader({ idleTimeoutMs: 5000, progressIntervalMs: 1000 });
    const download = downloader.download(catalogFile('stall.bin', file, [server.url('/stall.bin')]));
    await until(() => downloader.stateOf('stall.bin')?.bytesDone === 10 * KIB, 'the first bytes');
    await clock.advance(4000);
    assert.equal(downloader.stateOf('stall.bin')?.phase, 'downloading', 'not yet abandoned');
    await clock.advance(1000);
    await until(() => downloader.stateOf('stall.bin')?.phase === 'retrying', 'the retry');
    assert.match(downloader.stateOf('stall.bin')?.error?.message ?? '', /No data for 5 s/);
    await clock.advance(1000);
    assert.equal((await download).sha256, file.sha256);
    assert.deepEqual(
      server.requests.map((r) => r.range),
      [undefined, `bytes=${10 * KIB}-`],
    );
  });

  it('reports smoothed speed and an ETA that converges on the true remaining time of a slow server', async () => {
    const chunk = 16 * KIB;
    const fastSteps = 4;
    const slowSteps = 20;
    const file = generateFile(fastSteps * 4 * chunk + (slowSteps + 4) * chunk);
    let response: ServerResponse | undefined;
    server.on('/slow.bin', (_req, res) => {
      res.writeHead(200, { 'content-length': file.body.length });
      response = res;
    });
    const downloader = makeDownloader({ progressIntervalMs: 1000, speedSmoothing: 0.3 });
    const progress: DownloadProgress[] = [];
    downloader.onProgress((p) => progress.push(p));
    const download = downloader.download(catalogFile('slow.bin', file, [server.url('/slow.bin')]));
    await until(() => response !== undefined, 'the request');

    let sent = 0;
    const step = async (bytes: number): Promise<DownloadProgress> => {
      response?.write(file.body.subarray(sent, sent + bytes));
      sent += bytes;
      await until(() => downloader.stateOf('slow.bin')?.bytesDone === sent, `${sent} bytes on disk`);
      const before = progress.length;
      await clock.advance(1000);
      assert.equal(progress.length, before + 1, 'one progress event per interval');
      return progress.at(-1) as DownloadProgress;
    };

    for (let i = 0; i < fastSteps; i++) {
      const p = await step(4 * chunk);
      assert.equal(p.bytesPerSecond, 4 * chunk, 'a steady 64 KiB/s');
    }
    const slowRate = chunk;
    const errors: number[] = [];
    for (let i = 0; i < slowSteps; i++) {
      const p = await step(chunk);
      assert.equal(p.at, clock.now(), 'timestamps come from the clock');
      assert.equal(p.bytesDone, sent);
      assert.equal(p.bytesTotal, file.body.length);
      const trueRemaining = (file.body.length - sent) / slowRate;
      errors.push(Math.abs((p.etaSeconds as number) - trueRemaining) / trueRemaining);
    }
    assert.ok((errors[0] as number) > 0.5, `the first ETA after the slowdown is far off (${errors[0]})`);
    for (let i = 1; i < errors.length; i++) assert.ok((errors[i] as number) < (errors[i - 1] as number), 'the ETA error shrinks');
    assert.ok((errors.at(-1) as number) < 0.01, `the ETA ends within 1 % of the truth (${errors.at(-1)})`);
    assert.ok(Math.abs((downloader.measuredBytesPerSecond as number) - slowRate) / slowRate < 0.01);

    response?.end(file.body.subarray(sent));
    assert.equal((await download).sha256, file.sha256);
  });

  it('refuses to start without enough free disk, naming bytes needed and free', async () => {
    const file = generateFile(100 * KIB);
    server.on('/f.bin', (req, res) => sendFile(req, res, file.body));
    const downloader = makeDownloader({ freeSpaceReserveBytes: 1000 }, { freeBytes: async () => 50_000 });
    const error = await failureOf(downloader.download(catalogFile('f.bin', file, [server.url('/f.bin')])));
    assert.equal(error.code, 'disk_full');
    assert.equal(error.bytesNeeded, 100 * KIB + 1000);
    assert.equal(error.bytesFree, 50_000);
    assert.match(error.message, /needs 103400 bytes .*50000 bytes .* free/);
    assert.equal(server.requests.length, 0);
  });

  it('counts the partial file when checking free disk', async () => {
    const file = generateFile(100 * KIB);
    await mkdir(join(root, 'models'), { recursive: true });
    await writeFile(join(root, 'models', 'f.bin.part'), file.body.subarray(0, 90 * KIB));
    server.on('/f.bin', (req, res) => sendFile(req, res, file.body));
    const result = await makeDownloader({}, { freeBytes: async () => 10 * KIB }).download(catalogFile('f.bin', file, [server.url('/f.bin')]));
    assert.equal(result.sha256, file.sha256);
  });

  it('rejects files over the maximum size, and servers that send a size other than declared', async () => {
    const file = generateFile(100 * KIB);
    server.on('/f.bin', (req, res) => sendFile(req, res, file.body));
    const tooLarge = await failureOf(makeDownloader({ maxFileBytes: 64 * KIB }).download(catalogFile('f.bin', file, [server.url('/f.bin')])));
    assert.equal(tooLarge.code, 'too_large');
    assert.match(tooLarge.message, /102400 bytes, more than the maximum of 65536 bytes \(maxFileBytes\)/);
    assert.equal(server.requests.length, 0);

    const declaredSmaller = { ...catalogFile('g.bin', file, [server.url('/f.bin')]), sizeBytes: 90 * KIB };
    const mismatch = await failureOf(makeDownloader().download(declaredSmaller));
    assert.equal(mismatch.code, 'size_mismatch');
  });

  it('stops a server that sends more than declared without Content-Length', async () => {
    const file = generateFile(40 * KIB);
    server.on('/endless.bin', (_req, res) => {
      res.writeHead(200);
      res.end(Buffer.concat([file.body, file.body]));
    });
    const error = await failureOf(makeDownloader().download(catalogFile('e.bin', file, [server.url('/endless.bin')])));
    assert.equal(error.code, 'size_mismatch');
  });

  it('follows a bounded number of redirects', async () => {
    const file = generateFile(20 * KIB);
    server
      .on('/r1', (_req, res) => res.writeHead(302, { location: '/r2' }).end())
      .on('/r2', (_req, res) => res.writeHead(301, { location: server.url('/file.bin') }).end())
      .on('/file.bin', (req, res) => sendFile(req, res, file.body))
      .on('/loop', (_req, res) => res.writeHead(307, { location: '/loop' }).end());
    const downloader = makeDownloader({ maxRedirects: 3 });
    assert.equal((await downloader.download(catalogFile('a.bin', file, [server.url('/r1')]))).sha256, file.sha256);
    const error = await failureOf(downloader.download(catalogFile('b.bin', file, [server.url('/loop')])));
    assert.equal(error.code, 'too_many_redirects');
    assert.equal(server.requestsFor('/loop').length, 4, 'the first request and 3 redirects');
  });

  it('checks the scheme and the host allowlist on the URL and on every redirect target', async () => {
    const file = generateFile(20 * KIB);
    server
      .on('/to-other-host', (_req, res) => res.writeHead(302, { location: server.url('/file.bin', 'localhost') }).end())
      .on('/to-file-scheme', (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end())
      .on('/file.bin', (req, res) => sendFile(req, res, file.body));
    const downloader = makeDownloader({ allowedHosts: ['127.0.0.1'] });

    const offList = await failureOf(downloader.download(catalogFile('a.bin', file, [server.url('/file.bin', 'localhost')])));
    assert.equal(offList.code, 'host_not_allowed');
    assert.match(offList.message, /Host "localhost" .* allowed hosts: 127\.0\.0\.1/);
    assert.equal(server.requests.length, 0);

    const redirected = await failureOf(downloader.download(catalogFile('b.bin', file, [server.url('/to-other-host')])));
    assert.equal(redirected.code, 'host_not_allowed');
    assert.equal(server.requestsFor('/file.bin').length, 0, 'the redirect target is never contacted');

    const scheme = await failureOf(downloader.download(catalogFile('c.bin', file, [server.url('/to-file-scheme')])));
    assert.equal(scheme.code, 'scheme_not_allowed');

    const wildcard = makeDownloader({ allowedHosts: ['*.example.org', '127.0.0.1'] });
    assert.equal((await wildcard.download(catalogFile('d.bin', file, [server.url('/file.bin')]))).sha256, file.sha256);
  });

  it('refuses catalog paths that escape the models directory', async () => {
    const file = generateFile(10 * KIB);
    server.on('/f.bin', (req, res) => sendFile(req, res, file.body));
    const outside = join(root, 'outside');
    await mkdir(outside, { recursive: true });
    await mkdir(join(root, 'models'), { recursive: true });
    await symlink(outside, join(root, 'models', 'escape'));
    const downloader = makeDownloader();
    for (const path of ['../evil.bin', 'vae/../../evil.bin', '/tmp/evil.bin', 'escape/evil.bin', 'a\\..\\evil.bin']) {
      const error = await failureOf(downloader.download(catalogFile(path, file, [server.url('/f.bin')])));
      assert.equal(error.code, 'unsafe_path', path);
    }
    assert.equal(server.requests.length, 0);
    assert.deepEqual(await readdir(outside), []);
    assert.equal(existsSync(join(root, 'evil.bin')), false);
  });

  it('pauses, keeping the partial file, and resumes from where it stopped', async () => {
    const file = generateFile(512 * KIB);
    const firstPart = 128 * KIB;
    let firstConnectionClosed = false;
    server.on('/p.bin', (req, res, count) => {
      if (count > 1) return sendFile(req, res, file.body);
      res.writeHead(200, { 'content-length': file.body.length });
      res.write(file.body.subarray(0, firstPart));
      res.on('close', () => (firstConnectionClosed = true));
    });
    const downloader = makeDownloader();
    const states = recordStates(downloader);
    const download = downloader.download(catalogFile('p.bin', file, [server.url('/p.bin')]));
    await until(() => downloader.stateOf('p.bin')?.bytesDone === firstPart, 'the first part');

    assert.equal(downloader.pause('p.bin'), true);
    await until(() => firstConnectionClosed, 'the paused request to be closed');
    assert.equal(server.requests.length, 1);
    await clock.advance(60_000);
    assert.equal(downloader.stateOf('p.bin')?.phase, 'paused');
    assert.equal(server.requests.length, 1, 'nothing is fetched while paused');
    assert.equal((await readFile(join(root, 'models', 'p.bin.part'))).length, firstPart);

    assert.equal(downloader.resume('p.bin'), true);
    const result = await download;
    assert.equal(result.sha256, file.sha256);
    assert.deepEqual(
      server.requests.map((r) => r.range),
      [undefined, `bytes=${firstPart}-`],
    );
    assert.deepEqual(
      states.map((s) => s.phase),
      ['queued', 'downloading', 'paused', 'queued', 'downloading', 'verifying', 'completed'],
    );
  });

  it('cancels a download, deleting its partial file', async () => {
    const file = generateFile(256 * KIB);
    let connectionClosed = false;
    server.on('/c.bin', (_req, res) => {
      res.writeHead(200, { 'content-length': file.body.length });
      res.write(file.body.subarray(0, 64 * KIB));
      res.on('close', () => (connectionClosed = true));
    });
    const controller = new AbortController();
    const downloader = makeDownloader();
    const download = failureOf(downloader.download(catalogFile('c.bin', file, [server.url('/c.bin')]), { signal: controller.signal }));
    await until(() => downloader.stateOf('c.bin')?.bytesDone === 64 * KIB, 'some bytes');
    controller.abort();
    const error = await download;
    assert.equal(error.code, 'cancelled');
    await until(() => connectionClosed, 'the cancelled request to be closed');
    assert.equal(existsSync(join(root, 'models', 'c.bin.part')), false);
    assert.equal(downloader.stateOf('c.bin')?.phase, 'cancelled');
    assert.equal(downloader.cancel('c.bin'), false, 'nothing left to cancel');
  });

  it('runs at most maxConcurrent downloads at once', async () => {
    const a = generateFile(64 * KIB);
    const b = generateFile(64 * KIB);
    let holdA: (() => void) | undefined;
    server
      .on('/a.bin', (req, res) => (holdA = () => sendFile(req, res, a.body)))
      .on('/b.bin', (req, res) => sendFile(req, res, b.body));
    const downloader = makeDownloader({ maxConcurrent: 1 });
    const first = downloader.download(catalogFile('a.bin', a, [server.url('/a.bin')]));
    const second = downloader.download(catalogFile('b.bin', b, [server.url('/b.bin')]));
    assert.equal(downloader.download(catalogFile('a.bin', a, [server.url('/a.bin')])), first, 'the same file is downloaded once');
    await until(() => holdA !== undefined, 'the first request');
    for (let i = 0; i < 50; i++) await clock.flush();
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/a.bin'],
    );
    assert.equal(downloader.stateOf('b.bin')?.phase, 'queued');
    holdA?.();
    await Promise.all([first, second]);
    assert.deepEqual(
      server.requests.map((r) => r.path),
      ['/a.bin', '/b.bin'],
    );
  });

  it('downloads every file of a model, failing with the first error once all have settled', async () => {
    const unet = generateFile(80 * KIB);
    const vae = generateFile(20 * KIB);
    server.on('/unet.bin', (req, res) => sendFile(req, res, unet.body));
    const model: ModelDescriptor = {
      id: 'ti2v-5B',
      inputs: { text: 'required', image: 'optional' },
      capabilities: ['text_image_to_video'],
      qualityRank: 0.8,
      baseVramGb: 6,
      sizeGb: 8,
      baseSeconds: 80,
      files: [catalogFile('diffusion_models/unet.bin', unet, [server.url('/unet.bin')]), catalogFile('vae/vae.bin', vae, [server.url('/vae.bin')])],
    };
    const downloader = makeDownloader();
    const error = await failureOf(downloader.downloadModel(model));
    assert.equal(error.code, 'not_found');
    assert.equal(error.path, 'vae/vae.bin');
    assert.equal(downloader.stateOf('diffusion_models/unet.bin')?.phase, 'completed');
    assert.equal(downloader.stateOf('diffusion_models/unet.bin')?.modelId, 'ti2v-5B');
  });

  it('validates its options, naming the field and what is allowed', () => {
    assert.throws(
      () => makeDownloader({ maxConcurrent: 0 }),
      (error: unknown) => isValidationError(error) && /maxConcurrent/.test(error.message) && />=1/.test(error.message),
    );
    assert.throws(
      () => makeDownloader({ allowedHosts: ['https://huggingface.co/'] }),
      (error: unknown) => isValidationError(error) && /allowedHosts\[0\]/.test(error.message),
    );
  });
});
