/**
 * The bench's file server, in a process of its own: serves the file argv[2] from memory on 127.0.0.1 (GET with
 * `Range: bytes=N-` or `bytes=N-M`, ETag, Accept-Ranges), each connection capped at argv[3] bytes per second
 * (0: uncapped), as a CDN caps what one connection gets. Prints its port.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as wait } from 'node:timers/promises';

const [path, capText = '0'] = process.argv.slice(2) as [string, string?];
const body = readWhole(path);
const cap = Number(capText);
/** A capped body goes out in pieces of this size, each when the connection's budget allows. */
const PIECE = 256 * 1024;

/** The whole file in one buffer (readFileSync stops at 2 GiB). */
function readWhole(file: string): Buffer {
  const fd = openSync(file, 'r');
  const buffer = Buffer.allocUnsafe(fstatSync(fd).size);
  for (let at = 0; at < buffer.length; ) at += readSync(fd, buffer, at, Math.min(64 * 1024 * 1024, buffer.length - at), at);
  closeSync(fd);
  return buffer;
}

async function paced(res: ServerResponse, bytes: Buffer): Promise<void> {
  const started = performance.now();
  for (let sent = 0; sent < bytes.length && !res.destroyed; ) {
    const piece = bytes.subarray(sent, sent + PIECE);
    sent += piece.length;
    if (!res.write(piece)) await once(res, 'drain');
    const due = started + (sent / cap) * 1000;
    const ahead = due - performance.now();
    if (ahead > 1) await wait(ahead);
  }
  res.end();
}

const server = createServer((req, res) => {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = match ? Number(match[1]) : 0;
  const end = match && match[2] !== '' ? Number(match[2]) + 1 : body.length;
  res.writeHead(match ? 206 : 200, {
    'content-length': end - start,
    'accept-ranges': 'bytes',
    etag: '"bench-1"',
    ...(match ? { 'content-range': `bytes ${start}-${end - 1}/${body.length}` } : {}),
  });
  const slice = body.subarray(start, end);
  if (cap > 0) void paced(res, slice).catch(() => res.destroy());
  else res.end(slice);
});
server.listen(0, '127.0.0.1', () => console.log((server.address() as AddressInfo).port));
