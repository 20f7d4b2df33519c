import assert from 'node:assert/strict';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ModelStatus } from '../../src/core/availability.js';
import type { ModelDescriptor, ModelFile } from '../../src/core/catalog.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { AvailabilityScanner } from '../../src/adapters/model-files/availability-scanner.js';
import { DigestCache } from '../../src/adapters/model-files/digest-cache.js';
import { ModelDownloader } from '../../src/adapters/model-files/downloader.js';
import { sha256File, type FileHasher } from '../../src/adapters/model-files/file-digest.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { ScriptedServer, catalogFile, generateFile, makeTempDir, removeDir, sendFile, until, type GeneratedFile } from './helpers.js';

const KIB = 1024;

let base: string;
let root: string;
let clock: ManualClock;
let directory: ModelsDirectory;
let hashed: string[];
const countingHasher: FileHasher = async (path, signal) => {
  hashed.push(path);
  return sha256File(path, signal);
};

beforeEach(async () => {
  base = await makeTempDir();
  root = join(base, 'models');
  await mkdir(root, { recursive: true });
  clock = new ManualClock();
  directory = new ModelsDirectory({ root });
  hashed = [];
});

afterEach(async () => {
  await removeDir(base);
});

function model(id: string, files: ModelFile[]): ModelDescriptor {
  return {
    id,
    inputs: { text: 'required', image: 'unsupported' },
    capabilities: ['text_to_video'],
    qualityRank: 0.9,
    baseVramGb: 8,
    sizeGb: 1,
    baseSeconds: 100,
    files,
  };
}

async function place(path: string, content: Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

describe('AvailabilityScanner', () => {
  const unet = generateFile(200 * KIB);
  const vae = generateFile(50 * KIB);
  const url = ['http://127.0.0.1:1/unused'];
  const unetFile = catalogFile('diffusion_models/unet.bin', unet, url);
  const vaeFile = catalogFile('vae/vae.bin', vae, url);

  it('reports available, missing, partial and corrupted models with bytes present', async () => {
    const corruptUnet = catalogFile('diffusion_models/c.bin', unet, url);
    const models = [
      model('complete', [unetFile, vaeFile]),
      model('missing', [catalogFile('diffusion_models/none.bin', unet, url)]),
      model('partial', [catalogFile('diffusion_models/half.bin', unet, url), vaeFile]),
      model('wrong-size', [catalogFile('diffusion_models/short.bin', unet, url)]),
      model('no-files', []),
      model('corrupt', [corruptUnet]),
    ];
    await place(unetFile.path, unet.body);
    await place(vaeFile.path, vae.body);
    await place('diffusion_models/half.bin.part', unet.body.subarray(0, 70 * KIB));
    await place('diffusion_models/short.bin', unet.body.subarray(0, 10));
    const tampered = Buffer.from(unet.body);
    tampered[1000] = (tampered[1000] as number) ^ 0xff;
    await place(corruptUnet.path, tampered);
    const scanner = new AvailabilityScanner({ models, directory, clock, hasher: countingHasher });
    const events: ModelStatus[] = [];
    scanner.onModelStatus((s) => events.push(s));

    const quick = await scanner.scan();
    assert.equal(hashed.length, 0, 'a quick scan hashes nothing');
    assert.deepEqual(quick.get('complete'), {
      modelId: 'complete',
      status: 'available',
      bytesPresent: 250 * KIB,
      bytesTotal: 250 * KIB,
      updatedAt: clock.now(),
    });
    assert.equal(quick.get('missing')?.status, 'missing');
    assert.equal(quick.get('missing')?.bytesPresent, 0);
    assert.equal(quick.get('partial')?.status, 'partial');
    assert.equal(quick.get('partial')?.bytesPresent, 70 * KIB + 50 * KIB);
    assert.equal(quick.get('wrong-size')?.status, 'corrupted');
    assert.match(quick.get('wrong-size')?.detail ?? '', /has 10 bytes, expected 204800/);
    assert.equal(quick.get('corrupt')?.status, 'available', 'same size: only a full check can tell');
    assert.equal(quick.has('no-files'), false, 'models without files are left to other sources');
    assert.deepEqual(
      events.map((e) => `${e.modelId}:${e.status}`),
      ['complete:available', 'missing:missing', 'partial:partial', 'wrong-size:corrupted', 'corrupt:available'],
    );

    const full = await scanner.scan({ verify: 'sha256' });
    assert.equal(full.get('complete')?.status, 'available');
    assert.equal(full.get('corrupt')?.status, 'corrupted');
    assert.match(full.get('corrupt')?.detail ?? '', new RegExp(`sha256 [a-f0-9]{64}, expected ${unet.sha256}`));
    assert.equal(hashed.length, 3, 'the three full-size files are hashed once');
    assert.deepEqual(events.at(-1), full.get('corrupt'), 'the change goes out as an event');

    const eventsBefore = events.length;
    await scanner.scan({ verify: 'sha256' });
    assert.equal(hashed.length, 3, 'the second full scan uses the digest cache');
    assert.equal(events.length, eventsBefore, 'no change, no event');
    assert.equal((await scanner.snapshot()).get('corrupt')?.status, 'corrupted', 'a quick scan remembers the bad digest');

    const later = new Date(Date.now() + 60_000);
    await utimes(join(root, unetFile.path), later, later);
    await scanner.scan({ verify: 'sha256' });
    assert.deepEqual(hashed.slice(3), [join(root, unetFile.path)], 'a changed mtime is hashed again');
  });

  it('keeps digests across restarts in a JSON file', async () => {
    await place(unetFile.path, unet.body);
    const cacheFile = join(base, 'data', 'digests.json');
    const first = new AvailabilityScanner({ models: [model('m', [unetFile])], directory, clock, hasher: countingHasher, digestCache: await DigestCache.open(cacheFile) });
    await first.scan({ verify: 'sha256' });
    assert.equal(hashed.length, 1);
    const saved = JSON.parse(await readFile(cacheFile, 'utf8')) as { entries: Record<string, { sha256: string }> };
    assert.equal(saved.entries[join(root, unetFile.path)]?.sha256, unet.sha256);

    const second = new AvailabilityScanner({ models: [model('m', [unetFile])], directory, clock, hasher: countingHasher, digestCache: await DigestCache.open(cacheFile) });
    assert.equal((await second.scan({ verify: 'sha256' })).get('m')?.status, 'available');
    assert.equal(hashed.length, 1, 'the reopened cache spares the hash');
  });

  it('starts an empty cache from a malformed cache file', async () => {
    const cacheFile = join(base, 'digests.json');
    await writeFile(cacheFile, '{ not json');
    const cache = await DigestCache.open(cacheFile);
    assert.equal(cache.get('/x', { size: 1, mtimeMs: 1 }), undefined);
  });

  it('reports an unsafe catalog path as failed, naming the path', async () => {
    const evil = { ...unetFile, path: '../../etc/passwd' };
    const scanner = new AvailabilityScanner({ models: [model('evil', [evil])], directory, clock });
    const status = (await scanner.snapshot()).get('evil');
    assert.equal(status?.status, 'failed');
    assert.match(status?.detail ?? '', /Unsafe model file path "\.\.\/\.\.\/etc\/passwd"/);
  });

  describe('with a download under way', () => {
    let server: ScriptedServer;
    beforeEach(async () => {
      server = await ScriptedServer.start();
    });
    afterEach(async () => {
      await server.close();
    });

    it('reports downloading, paused and then available, verified without hashing again', async () => {
      const big: GeneratedFile = generateFile(256 * KIB);
      let hold: ServerResponse | undefined;
      server.on('/big.bin', (req, res, count) => {
        if (count > 1) return sendFile(req, res, big.body);
        res.writeHead(200, { 'content-length': big.body.length });
        res.write(big.body.subarray(0, 100 * KIB));
        hold = res;
      });
      const file = catalogFile('diffusion_models/big.bin', big, [server.url('/big.bin')]);
      const digestCache = DigestCache.inMemory();
      const downloader = new ModelDownloader({ directory, clock, digestCache }, { fsync: false });
      const scanner = new AvailabilityScanner({ models: [model('m', [file, vaeFile])], directory, clock, downloads: downloader, hasher: countingHasher, digestCache });
      await place(vaeFile.path, vae.body);
      const events: ModelStatus[] = [];
      scanner.onModelStatus((s) => events.push(s));
      assert.equal((await scanner.snapshot()).get('m')?.status, 'partial');

      const download = downloader.download(file, { modelId: 'm' });
      await until(() => downloader.stateOf(file.path)?.bytesDone === 100 * KIB && hold !== undefined, 'the first bytes');
      const downloading = (await scanner.snapshot()).get('m');
      assert.equal(downloading?.status, 'downloading');
      assert.equal(downloading?.bytesPresent, 100 * KIB + 50 * KIB);
      assert.equal(downloading?.bytesTotal, 256 * KIB + 50 * KIB);

      downloader.pause(file.path);
      assert.equal(events.at(-1)?.status, 'paused', 'the pause goes out as an event at once');
      await until(() => server.requests.length === 1, 'the pause');
      downloader.resume(file.path);
      await download;
      await until(() => events.at(-1)?.status === 'available', 'the available event');
      assert.deepEqual(
        [...new Set(events.map((e) => e.status))],
        ['partial', 'downloading', 'paused', 'verifying', 'available'],
      );
      assert.equal((await scanner.scan({ verify: 'sha256' })).get('m')?.status, 'available');
      assert.deepEqual(hashed, [join(root, vaeFile.path)], 'the downloaded file is known by its verified digest');
    });

    it('reports a failed download with its reason', async () => {
      const file = catalogFile('diffusion_models/gone.bin', unet, [server.url('/gone.bin')]);
      const downloader = new ModelDownloader({ directory, clock }, { fsync: false });
      const scanner = new AvailabilityScanner({ models: [model('m', [file])], directory, clock, downloads: downloader });
      await assert.rejects(downloader.download(file));
      const status = (await scanner.snapshot()).get('m');
      assert.equal(status?.status, 'failed');
      assert.match(status?.detail ?? '', /404 Not Found/);
    });
  });
});
