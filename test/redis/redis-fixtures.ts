/**
 * Shared set-up of the Redis store tests: the machine's Redis on 127.0.0.1:6379 (REDIS_URL overrides), a unique key
 * prefix per test whose keys are deleted when the test ends, and private redis-server processes for the tests that
 * need a server of their own. Without a reachable Redis the tests fail: {@link requireRedis} throws.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { RedisJobStore, type RedisJobStoreOptions, type RedisStoreLogger } from '../../src/adapters/redis/index.js';
import { ManualClock } from '../../src/runtime/clocks.js';
import type { ContractFixture } from '../jobs/job-store-contract.js';

/** The shared test Redis. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Throws unless the test Redis answers PING within 3 s. */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`these tests need Redis at ${url} (start redis-server, or set REDIS_URL): ${(error as Error).message}`, { cause: error });
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key matching `pattern`. */
export async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A logger that keeps what it was told, for tests that read the log. */
export class MemoryLogger implements RedisStoreLogger {
  readonly lines: string[] = [];

  warn(message: string): void {
    this.lines.push(`warn: ${message}`);
  }

  error(message: string): void {
    this.lines.push(`error: ${message}`);
  }
}

/** A Redis store fixture for the contract: every store on one prefix; stores closed and keys deleted after the test. */
export interface RedisStoreFixture extends ContractFixture {
  store: RedisJobStore;
  prefix: string;
  open(options?: Partial<RedisJobStoreOptions>): RedisJobStore;
}

/** Opens a store under a new prefix of the test Redis, driven by a ManualClock. */
export function redisStoreFixture(t: TestContext, options: Partial<RedisJobStoreOptions> = {}): RedisStoreFixture {
  const prefix = `test:${randomUUID()}`;
  const clock = new ManualClock();
  const opened: RedisJobStore[] = [];
  const open = (more: Partial<RedisJobStoreOptions> = {}): RedisJobStore => {
    const store = new RedisJobStore({ address: REDIS_URL, prefix, clock, stalledIntervalMs: 0, ...options, ...more });
    opened.push(store);
    return store;
  };
  t.after(async () => {
    for (const store of opened) await store.close();
    await deleteKeys(REDIS_URL, `${prefix}:*`);
  });
  const orphanedTimelineEntries = async (): Promise<number> => {
    const redis = new Redis(REDIS_URL);
    try {
      let orphaned = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:job:*:tl`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) if ((await redis.exists(key.slice(0, -':tl'.length))) === 0) orphaned += await redis.llen(key);
      } while (cursor !== '0');
      return orphaned;
    } finally {
      redis.disconnect();
    }
  };
  return { store: open(), clock, prefix, open, orphanedTimelineEntries };
}

/** A free TCP port on loopback. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

/** A private redis-server on a free port with its own folder, stopped and removed when the test ends. */
export interface PrivateRedis {
  url: string;
  port: number;
  process: ChildProcess;
}

/** Starts `redis-server --port <free> --dir <tmp> ...args`; resolves once it accepts connections. */
export async function startRedisServer(t: TestContext, args: readonly string[]): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'understudy-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--dir', dir, '--save', '', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    child.once('error', reject);
  });
  return { url: `redis://127.0.0.1:${port}`, port, process: child };
}
