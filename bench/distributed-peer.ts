/**
 * The peer a user would write instead of Understudy's cluster mode, for bench/http.ts and bench/distributed.ts:
 * - {@link bullmqPeer}: a fastify route that adds the request body to a BullMQ queue (`queue.add`) and answers 202;
 * - run as a script, one child process of the distributed bench:
 *     tsx bench/distributed-peer.ts http <redisPort> <queue>
 *       the route above on a free port; prints `{"url": ...}` once it listens;
 *     tsx bench/distributed-peer.ts worker <redisPort> <queue> <name> [lockMs]
 *       a plain BullMQ Worker (concurrency 1) whose job sleeps `job.data.ms`; prints `ready` once connected and
 *       `start <job id>` as each job starts. `lockMs` sets lockDuration and stalledInterval (BullMQ's lease).
 * Both run until killed.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';

/** What a user would write instead of Understudy: a fastify route that adds the body to a BullMQ queue. */
export async function bullmqPeer(
  port: number,
  options: { queueName?: string; removeOnComplete?: boolean } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const queue = new Queue(options.queueName ?? `bench-${randomUUID()}`, { connection: { host: '127.0.0.1', port } });
  const app: FastifyInstance = Fastify();
  app.post('/generations', async (request, reply) => {
    const job = await queue.add('generate', request.body, { removeOnComplete: options.removeOnComplete ?? true });
    return reply.code(202).send({ id: job.id, status: 'queued' });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/generations`,
    close: async () => {
      await app.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

/** A BullMQ worker process: sleeps `job.data.ms` per job, one job at a time. */
async function peerWorker(port: number, queueName: string, name: string, lockMs: number | undefined): Promise<void> {
  const worker = new Worker(
    queueName,
    async (job) => {
      process.stdout.write(`start ${job.id}\n`);
      const data = job.data as { ms?: number };
      await sleep(data.ms ?? 0);
      return { by: name };
    },
    {
      connection: { host: '127.0.0.1', port, maxRetriesPerRequest: null },
      concurrency: 1,
      name,
      ...(lockMs !== undefined ? { lockDuration: lockMs, stalledInterval: lockMs } : {}),
    },
  );
  worker.on('error', () => undefined);
  await worker.waitUntilReady();
  process.stdout.write('ready\n');
}

if (process.argv[1] === import.meta.filename) {
  const [mode, port, queueName, name, lockMs] = process.argv.slice(2);
  if (mode === 'http') {
    const peer = await bullmqPeer(Number(port), { queueName: queueName!, removeOnComplete: false });
    process.stdout.write(`${JSON.stringify({ url: peer.url })}\n`);
  } else if (mode === 'worker') {
    await peerWorker(Number(port), queueName!, name ?? `peer-${process.pid}`, lockMs === undefined ? undefined : Number(lockMs));
  } else {
    throw new Error(`usage: distributed-peer.ts http|worker <redisPort> <queue> [name] [lockMs]`);
  }
}
