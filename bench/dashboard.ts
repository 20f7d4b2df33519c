/**
 * The dashboard in Debian's Chromium against the real service on loopback (simulated GPU), side by side with the
 * page a BullMQ user would open instead: Bull Board (@bull-board/fastify and its React UI, same machine, same
 * browser, a BullMQ queue in the local Redis). Each is measured the same way:
 * - first render: from navigation start to the first job drawn on its queue view (a MutationObserver installed
 *   before the page's own scripts), median of fresh loads; our target ≤ 300 ms after the load event;
 * - bytes transferred until then for the page's own files (document, scripts, styles, fonts, images), as sent
 *   (gzip where the server gzips); our target ≤ 150 KB;
 * - the queue view with 5,000 jobs waiting while 50 new jobs a second arrive: the longest frame (a
 *   requestAnimationFrame loop) and long tasks; our target no frame over 100 ms.
 *
 * Needs Redis on 127.0.0.1:6379 (as the tests do). Run: npx tsx bench/dashboard.ts   (about two minutes;
 * BENCH_STREAM_SECONDS sets the streaming time, default 10)
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import Fastify from 'fastify';
import type { Page } from 'playwright-core';
import { ServiceConfigSchema } from '../src/interfaces/config.js';
import { startService } from '../src/interfaces/http/service.js';
import { SystemClock } from '../src/adapters/system-clock.js';
import { launchChromium, type TestBrowser } from '../test/dashboard/browser.js';

const JOBS = 5000;
const EVENTS_PER_SECOND = 50;
const STREAM_SECONDS = Number(process.env.BENCH_STREAM_SECONDS ?? 10);
const LOADS = 7;
const OWN_FILES = new Set(['document', 'script', 'stylesheet', 'font', 'image']);

/** A queue page to measure: where it is, what shows that a job is drawn, and how to add a job. */
interface Target {
  name: string;
  url: string;
  /** A page expression, true once a job of the queue is on screen. */
  drawn: string;
  addJob: () => Promise<void>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Polls a page expression with CDP evaluations (a page's CSP refuses waitForFunction's string predicates). */
async function until(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function firstRender(browser: TestBrowser, target: Target): Promise<{ sinceStart: number; sinceLoad: number; bytes: number }> {
  const sinceStart: number[] = [];
  const sinceLoad: number[] = [];
  let bytes = 0;
  for (let i = 0; i < LOADS; i++) {
    const page = await browser.context.newPage();
    await page.addInitScript(`(() => {
      const check = () => { try { return ${target.drawn}; } catch { return false; } };
      new MutationObserver((_, observer) => { if (check()) { window.__drawnAt = performance.now(); observer.disconnect(); } })
        .observe(document, { childList: true, subtree: true, characterData: true });
    })()`);
    const sized: Array<Promise<number>> = [];
    page.on('requestfinished', (request) => {
      if (OWN_FILES.has(request.resourceType())) sized.push(request.sizes().then((s) => s.responseBodySize));
    });
    await page.goto(target.url, { waitUntil: 'load' });
    await until(page, 'window.__drawnAt !== undefined');
    const t = (await page.evaluate("({ drawn: window.__drawnAt, load: performance.getEntriesByType('navigation')[0].loadEventEnd })")) as { drawn: number; load: number };
    const total = (await Promise.all(sized)).reduce((a, b) => a + b, 0);
    if (i > 0) {
      sinceStart.push(t.drawn);
      sinceLoad.push(t.drawn - t.load);
    } else {
      bytes = total;
    }
    await page.close();
  }
  return { sinceStart: median(sinceStart), sinceLoad: median(sinceLoad), bytes };
}

async function streaming(browser: TestBrowser, target: Target): Promise<{ longestFrame: number; p99Frame: number; frames: number; longTasks: number; longestTask: number }> {
  const page = await browser.context.newPage();
  await page.goto(target.url);
  await until(page, target.drawn);
  await page.evaluate(`(() => {
    window.__frames = []; window.__tasks = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__tasks.push(e.duration); }).observe({ type: 'longtask' });
    let last = performance.now();
    const tick = (now) => { window.__frames.push(now - last); last = now; if (!window.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  })()`);
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < STREAM_SECONDS * 1000) {
    void target.addJob();
    sent++;
    await new Promise((r) => setTimeout(r, Math.max(0, started + (sent * 1000) / EVENTS_PER_SECOND - Date.now())));
  }
  const result = (await page.evaluate(
    '(() => { window.__stop = true; const f = window.__frames.slice(1).sort((a, b) => a - b); return { longestFrame: f[f.length - 1], p99Frame: f[Math.floor(f.length * 0.99)], frames: f.length, longTasks: window.__tasks.length, longestTask: Math.max(0, ...window.__tasks) }; })()',
  )) as { longestFrame: number; p99Frame: number; frames: number; longTasks: number; longestTask: number };
  await page.close();
  return result;
}

// Understudy, with t2v-A14B downloading so slowly that every job for it waits for the whole run, while the planner
// believes the reference 50 MiB/s (so it plans download-and-wait rather than refusing).
const dataDir = await mkdtemp(join(tmpdir(), 'understudy-bench-dashboard-'));
const clock = new SystemClock();
const service = await startService(
  ServiceConfigSchema.parse({
    port: 0,
    dataDir,
    logLevel: 'silent',
    maxQueueSize: 100_000,
    rateLimit: { max: 0 },
    healthIntervalSeconds: 0,
    simulated: { downloadMiBPerSecond: 0.001 },
    planner: { estimation: { downloadBytesPerSecond: 50 * 1024 ** 2 } },
  }),
  { clock },
);
const submit = async () => {
  const r = await fetch(`${service.url}/v1/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 't2v-A14B', prompt: 'a fox', allowAlternatives: false, allowMock: false }),
  });
  if (r.status !== 202) throw new Error(`submit answered ${r.status}`);
};

// Bull Board on a BullMQ queue with no worker, so every job stays waiting.
const queueName = `understudy-bench-${randomUUID()}`;
const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null });
const queue = new Queue(queueName, { connection: redis });
const board = Fastify();
const adapter = new FastifyAdapter();
createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter: adapter });
adapter.setBasePath('/ui');
await board.register(adapter.registerPlugin(), { prefix: '/ui' });
await board.listen({ host: '127.0.0.1', port: 0 });
const boardAddress = board.server.address();
const boardUrl = `http://127.0.0.1:${typeof boardAddress === 'object' && boardAddress ? boardAddress.port : 0}`;
const addBullJob = async () => {
  await queue.add('bench-job', { model: 't2v-A14B', prompt: 'a fox' });
};

const browser = await launchChromium();
try {
  for (let i = 0; i < JOBS; i += 50) await Promise.all(Array.from({ length: 50 }, submit));
  await queue.addBulk(Array.from({ length: JOBS }, () => ({ name: 'bench-job', data: { model: 't2v-A14B', prompt: 'a fox' } })));
  const targets: Target[] = [
    { name: 'understudy', url: `${service.url}/#/jobs`, drawn: "document.querySelector('[data-job]') !== null", addJob: submit },
    {
      name: 'bull board',
      url: `${boardUrl}/ui/queue/${encodeURIComponent(queueName)}?status=waiting`,
      drawn: "document.body !== null && document.body.innerText.includes('bench-job')",
      addJob: addBullJob,
    },
  ];
  const rows: Array<{ name: string; render: Awaited<ReturnType<typeof firstRender>>; stream: Awaited<ReturnType<typeof streaming>> }> = [];
  for (const target of targets) {
    const render = await firstRender(browser, target);
    const stream = await streaming(browser, target);
    rows.push({ name: target.name, render, stream });
  }

  const [ours, peer] = rows as [(typeof rows)[0], (typeof rows)[0]];
  const f = (n: number) => n.toFixed(1);
  const ratio = (a: number, b: number) => (b === 0 ? '—' : `${Math.round((a / b) * 100)} %`);
  console.log(`\n${JOBS}+ jobs waiting; ${EVENTS_PER_SECOND} new jobs/s for ${STREAM_SECONDS} s; median of ${LOADS - 1} loads after a first\n`);
  console.log('| measure | understudy | bull board | understudy ÷ bull board | understudy target |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| first job drawn, ms after navigation start | ${f(ours.render.sinceStart)} | ${f(peer.render.sinceStart)} | ${ratio(ours.render.sinceStart, peer.render.sinceStart)} | |`);
  console.log(`| first job drawn, ms after the load event | ${f(ours.render.sinceLoad)} | ${f(peer.render.sinceLoad)} | ${ratio(ours.render.sinceLoad, peer.render.sinceLoad)} | ≤ 300 |`);
  console.log(`| page files transferred, KB | ${f(ours.render.bytes / 1024)} | ${f(peer.render.bytes / 1024)} | ${ratio(ours.render.bytes, peer.render.bytes)} | ≤ 150 |`);
  console.log(`| longest frame while jobs arrive, ms | ${f(ours.stream.longestFrame)} | ${f(peer.stream.longestFrame)} | ${ratio(ours.stream.longestFrame, peer.stream.longestFrame)} | ≤ 100 |`);
  console.log(`| p99 frame, ms | ${f(ours.stream.p99Frame)} | ${f(peer.stream.p99Frame)} | ${ratio(ours.stream.p99Frame, peer.stream.p99Frame)} | |`);
  console.log(`| long tasks (> 50 ms), longest ms | ${ours.stream.longTasks}, ${f(ours.stream.longestTask)} | ${peer.stream.longTasks}, ${f(peer.stream.longestTask)} | | |`);
  console.log(
    '\nUnderstudy shows a page of 50 jobs and follows the events socket; Bull Board shows its default page of jobs and polls its API every few seconds.',
  );
} finally {
  await browser.close();
  await board.close();
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
  await service.stop();
  clock.dispose();
  await rm(dataDir, { recursive: true, force: true });
}
