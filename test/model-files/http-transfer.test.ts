/**
 * The downloader's HTTP (undici) against servers that answer byte by byte the way real ones may: chunked bodies,
 * bodies that end with the connection, informational responses before the real one, heads split across packets,
 * garbage, TLS with a private CA, and a real http proxy (absolute-form GET for http, CONNECT for https).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isValidationError } from '../../src/core/validation.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import { isDownloadError } from '../../src/adapters/model-files/download-errors.js';
import { ModelDownloader, type DownloaderOptions } from '../../src/adapters/model-files/downloader.js';
import { ModelsDirectory } from '../../src/adapters/model-files/models-directory.js';
import { Agent } from 'undici';
import { PositionalWriter } from '../../src/adapters/model-files/body-writer.js';
import { dispatchRequest } from '../../src/adapters/model-files/response-handler.js';
import { catalogFile, generateFile, makeTempDir, removeDir, sendFile, until, type GeneratedFile } from './helpers.js';

const KIB = 1024;
const fixtures = join(import.meta.dirname, 'fixtures');
/** A self-signed certificate for localhost and 127.0.0.1 (valid until 2126), and its key. */
const CERT = readFileSync(join(fixtures, 'localhost-cert.pem'), 'utf8');
const KEY = readFileSync(join(fixtures, 'localhost-key.pem'), 'utf8');

/** Answers each connection with `script`, which writes raw bytes; the request's text is passed in. */
type RawScript = (socket: Socket, request: string, count: number) => Promise<void> | void;

let root: string;
let servers: (NetServer | HttpServer | HttpsServer)[];

beforeEach(async () => {
  root = await makeTempDir();
  servers = [];
});

afterEach(async () => {
  for (const server of servers) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await removeDir(root);
});

/** A TCP server on 127.0.0.1 that reads each request's head and runs `script`; resolves to its base URL. */
async function rawServer(script: RawScript): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createNetServer((socket) => {
    let text = '';
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (answered || !text.includes('\r\n\r\n')) return;
      answered = true;
      requests.push(text);
      void Promise.resolve(script(socket, text, requests.length)).catch(() => socket.destroy());
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/**
 * An http proxy on 127.0.0.1 (node:http): absolute-form requests are forwarded, CONNECT opens a TCP tunnel, unless
 * `refuse` is set, which answers every request with that status. `seen` records each request it got.
 */
async function startProxy(options: { refuse?: number } = {}): Promise<{ port: number; seen: Array<{ method: string; target: string; authorization: string | undefined }> }> {
  const seen: Array<{ method: string; target: string; authorization: string | undefined }> = [];
  const proxy = createHttpServer((req, res) => {
    seen.push({ method: req.method ?? '', target: req.url ?? '', authorization: req.headers['proxy-authorization'] });
    if (options.refuse) return void res.writeHead(options.refuse).end();
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const forwarded = httpRequest(req.url ?? '', { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    seen.push({ method: 'CONNECT', target: req.url ?? '', authorization: req.headers['proxy-authorization'] });
    if (options.refuse) return void client.end(`HTTP/1.1 ${options.refuse} Refused\r\nproxy-authenticate: Basic\r\n\r\n`);
    const [host = '', port = ''] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  servers.push(proxy);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { port: (proxy.address() as AddressInfo).port, seen };
}

/** Writes `bytes` and waits until the socket has sent them and a macrotask has passed, so each write is its own read. */
async function send(socket: Socket, bytes: string | Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  await new Promise((resolve) => setTimeout(resolve, 2));
}

function downloader(options: DownloaderOptions = {}, clock = new ManualClock()): ModelDownloader {
  return new ModelDownloader(
    { directory: new ModelsDirectory({ root: join(root, 'models') }), clock, random: () => 0.5 },
    { fsync: false, maxRetries: 0, ...options },
  );
}

async function downloaded(file: GeneratedFile, url: string, options: DownloaderOptions = {}): Promise<Buffer> {
  const result = await downloader(options).download(catalogFile('m.bin', file, [url]));
  assert.equal(result.sha256, file.sha256);
  return readFile(join(root, 'models', 'm.bin'));
}

describe('downloads over undici', () => {
  it('reads a chunked body whose chunk sizes and packet boundaries do not line up', async () => {
    const file = generateFile(300 * KIB);
    const { url, requests } = await rawServer(async (socket) => {
      await send(socket, 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const body = file.body;
      for (let at = 0, size = 1; at < body.length; size = size * 3 + 7) {
        const piece = body.subarray(at, at + size);
        at += piece.length;
        const framed = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
        // Split each frame in two writes, so the chunk header, data and trailer CRLF cross reads.
        const cut = Math.floor(framed.length / 2);
        await send(socket, framed.subarray(0, cut));
        await send(socket, framed.subarray(cut));
      }
      await send(socket, '0\r\n\r\n');
      socket.end();
    });
    assert.deepEqual(await downloaded(file, `${url}/m.bin`), file.body);
    assert.match(requests[0] ?? '', /^GET \/m\.bin HTTP\/1\.1\r\n/);
    assert.match(requests[0] ?? '', /\r\nhost: 127\.0\.0\.1:\d+\r\n/);
    assert.match(requests[0] ?? '', /\r\naccept-encoding: identity\r\n/);
  });

  it('reads a body that ends with the connection, and resumes one cut short from the right byte', async () => {
    const file = generateFile(200 * KIB);
    const cut = 77_777;
    const { url, requests } = await rawServer(async (socket, request, count) => {
      if (count === 1) {
        // No content-length: the body is whatever comes before the connection closes.
        await send(socket, Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n'), file.body.subarray(0, cut)]));
        socket.end();
        return;
      }
      const start = Number(/range: bytes=(\d+)-/.exec(request)?.[1]);
      const rest = file.body.subarray(start);
      await send(socket, `HTTP/1.1 206 Partial Content\r\ncontent-range: bytes ${start}-${file.body.length - 1}/${file.body.length}\r\n\r\n`);
      await send(socket, rest);
      socket.end();
    });
    const clock = new ManualClock();
    const retrying = downloader({ maxRetries: 1, initialBackoffMs: 1000 }, clock);
    const download = retrying.download(catalogFile('m.bin', file, [`${url}/m.bin`]));
    await until(() => retrying.stateOf('m.bin')?.phase === 'retrying', 'the retry after the short body');
    assert.equal(retrying.stateOf('m.bin')?.bytesDone, cut);
    await clock.advance(1000);
    assert.equal((await download).sha256, file.sha256);
    assert.deepEqual(await readFile(join(root, 'models', 'm.bin')), file.body);
    assert.match(requests[1] ?? '', new RegExp(`\\r\\nrange: bytes=${cut}-\\r\\n`));
  });

  it('skips informational responses (103 Early Hints) before the real one', async () => {
    const file = generateFile(50 * KIB);
    const { url } = await rawServer(async (socket) => {
      await send(socket, 'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n');
      await send(socket, `HTTP/1.1 200 OK\r\ncontent-length: ${file.body.length}\r\n\r\n`);
      await send(socket, file.body);
    });
    assert.deepEqual(await downloaded(file, `${url}/m.bin`), file.body);
  });

  it('keeps body bytes that arrive in the same packet as the head, and a head split across packets', async () => {
    const file = generateFile(64 * KIB);
    const { url } = await rawServer(async (socket) => {
      const head = `HTTP/1.1 200 OK\r\ncontent-length: ${file.body.length}\r\nx-padding: ${'p'.repeat(3000)}\r\n\r\n`;
      await send(socket, head.slice(0, 17));
      await send(socket, head.slice(17, 2000));
      await send(socket, Buffer.concat([Buffer.from(head.slice(2000)), file.body.subarray(0, 1000)]));
      await send(socket, file.body.subarray(1000));
    });
    assert.deepEqual(await downloaded(file, `${url}/m.bin`), file.body);
  });

  it('follows a redirect whose Location and status come split across packets', async () => {
    const file = generateFile(10 * KIB);
    const { url } = await rawServer(async (socket, request) => {
      if (request.startsWith('GET /old')) {
        await send(socket, 'HTTP/1.1 302 Found\r\nloca');
        await send(socket, 'tion: /new\r\ncontent-length: 5\r\n\r\nmoved');
        return;
      }
      await send(socket, Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${file.body.length}\r\n\r\n`), file.body]));
    });
    assert.deepEqual(await downloaded(file, `${url}/old`), file.body);
  });

  it('fails with a network error naming the problem when the answer is not HTTP', async () => {
    const file = generateFile(KIB);
    const { url } = await rawServer((socket) => {
      socket.end('SSH-2.0-OpenSSH_9.2\r\n\r\n');
    });
    const error = await downloader()
      .download(catalogFile('m.bin', file, [`${url}/m.bin`]))
      .then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(isDownloadError(error));
    assert.equal(error.code, 'network');
    assert.match(error.message, /^Request to http:\/\/127\.0\.0\.1:\d+\/m\.bin failed: .*(Parse Error|HTTP)/);
  });

  it('fails with a network error when the connection closes before the head', async () => {
    const file = generateFile(KIB);
    const { url } = await rawServer((socket) => {
      socket.end();
    });
    const error = await downloader()
      .download(catalogFile('m.bin', file, [`${url}/m.bin`]))
      .then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(isDownloadError(error));
    assert.equal(error.code, 'network');
    assert.match(error.message, /^Request to http:\/\/127\.0\.0\.1:\d+\/m\.bin failed: other side closed/);
  });

  it('downloads over https, trusting caCertificates beside the bundled roots, and refuses an untrusted certificate', async () => {
    const file = generateFile(256 * KIB);
    const server = createHttpsServer({ cert: CERT, key: KEY }, (req, res) => sendFile(req, res, file.body));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    for (const host of ['localhost', '127.0.0.1']) {
      const body = await downloaded(file, `https://${host}:${port}/m.bin`, { caCertificates: CERT });
      assert.deepEqual(body, file.body);
      await removeDir(join(root, 'models'));
    }
    const error = await downloader()
      .download(catalogFile('m.bin', file, [`https://localhost:${port}/m.bin`]))
      .then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(isDownloadError(error));
    assert.equal(error.code, 'network');
    assert.match(error.message, /self-signed certificate/);
  });

  it('fails with disk_full when the disk refuses the body (a real ENOSPC, from /dev/full), reporting no byte unwritten', async () => {
    const file = generateFile(200 * KIB);
    const { url } = await rawServer(async (socket) => {
      await send(socket, Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${file.body.length}\r\n\r\n`), file.body]));
    });
    const agent = new Agent();
    const full = await open('/dev/full', 'w');
    try {
      const { body, status } = await dispatchRequest(agent, { origin: url, path: '/m.bin', method: 'GET' }, new AbortController().signal);
      assert.equal(status, 200);
      let reported = 0;
      const writer = new PositionalWriter({ fd: full.fd, path: '/dev/full', position: 0, maxBytes: file.body.length }, (bytes) => (reported += bytes));
      const error = await body.pipeTo(writer).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(isDownloadError(error));
      assert.equal(error.code, 'disk_full');
      assert.match(error.message, /Writing \/dev\/full failed: the disk is full/);
      assert.equal(reported, 0);
    } finally {
      await full.close();
      await agent.destroy();
    }
  });

  it('goes through an http proxy: absolute-form GET for http, CONNECT then TLS for https, with its credentials', async () => {
    const file = generateFile(300 * KIB);
    const origin = createHttpsServer({ cert: CERT, key: KEY }, (req, res) => sendFile(req, res, file.body));
    servers.push(origin);
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const { url: plain } = await rawServer(async (socket) => {
      await send(socket, Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${file.body.length}\r\n\r\n`), file.body]));
    });
    const proxy = await startProxy();
    const withCredentials = `http://ann:p%40ss%20word@127.0.0.1:${proxy.port}`;

    assert.deepEqual(await downloaded(file, `${plain}/m.bin`, { proxy: withCredentials }), file.body);
    await removeDir(join(root, 'models'));
    const httpsUrl = `https://localhost:${(origin.address() as AddressInfo).port}/m.bin`;
    assert.deepEqual(await downloaded(file, httpsUrl, { proxy: withCredentials, caCertificates: CERT }), file.body);

    const basic = `Basic ${Buffer.from('ann:p@ss word').toString('base64')}`;
    assert.deepEqual(proxy.seen, [
      { method: 'GET', target: `${plain}/m.bin`, authorization: basic },
      { method: 'CONNECT', target: `localhost:${(origin.address() as AddressInfo).port}`, authorization: basic },
    ]);
  });

  it('fetches https segments in parallel through CONNECT tunnels of a real proxy', async () => {
    const file = generateFile(1024 * KIB);
    const ranges: (string | undefined)[] = [];
    const origin = createHttpsServer({ cert: CERT, key: KEY }, (req, res) => {
      ranges.push(req.headers.range);
      sendFile(req, res, file.body);
    });
    servers.push(origin);
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const proxy = await startProxy();
    const url = `https://localhost:${(origin.address() as AddressInfo).port}/m.bin`;
    const options = { proxy: `http://127.0.0.1:${proxy.port}`, caCertificates: CERT, connections: 4, minSegmentBytes: 64 * KIB };
    assert.deepEqual(await downloaded(file, url, options), file.body);
    assert.deepEqual(ranges.sort(), ['bytes=0-262143', 'bytes=262144-524287', 'bytes=524288-786431', 'bytes=786432-1048575']);
    assert.ok(proxy.seen.length >= 2 && proxy.seen.every((s) => s.method === 'CONNECT'), 'every connection is a tunnel');
  });

  it('fails with forbidden, without retrying, when the proxy wants other credentials (407), for https and http', async () => {
    const file = generateFile(KIB);
    const proxy = await startProxy({ refuse: 407 });
    const error = await downloader({ proxy: `http://127.0.0.1:${proxy.port}`, maxRetries: 3 })
      .download(catalogFile('m.bin', file, ['https://localhost:9/m.bin']))
      .then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(isDownloadError(error));
    assert.equal(error.code, 'forbidden');
    assert.match(error.message, /proxy 127\.0\.0\.1:\d+ answered 407 to CONNECT localhost:9/);
    const plain = await downloader({ proxy: `http://127.0.0.1:${proxy.port}`, maxRetries: 3 })
      .download(catalogFile('m.bin', file, ['http://localhost:9/m.bin']))
      .then(() => assert.fail('expected a failure'), (e: unknown) => e);
    assert.ok(isDownloadError(plain));
    assert.equal(plain.code, 'forbidden');
    assert.match(plain.message, /proxy 127\.0\.0\.1:\d+ answered 407 to GET http:\/\/localhost:9\/m\.bin/);
    assert.equal(proxy.seen.length, 2);
  });

  it('rejects extra headers that could split the request, naming the header', () => {
    const unsafe: Record<string, string>[] = [{ 'x-token': 'a\r\nx-evil: 1' }, { 'bad name': 'x' }, { 'x-nul': 'a\u0000b' }];
    for (const headers of unsafe) {
      assert.throws(
        () => downloader({ headers }),
        (error: unknown) => isValidationError(error) && error.issues.some((issue) => issue.field.startsWith('headers')),
      );
    }
  });
});
