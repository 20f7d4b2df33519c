/**
 * The dashboard in Debian's Chromium against the real service on loopback (simulated GPU):
 * - first render: from navigation start, and from the load event, to the page's `dashboard-rendered` mark (the
 *   signed-in page with its data drawn), median of several fresh loads; target ≤ 300 ms after load;
 * - transferred size: the page, script and styles as sent gzipped; target ≤ 150 KB;
 * - the jobs view with 5,000 jobs waiting while events stream at 50/s (a new job every 20 ms, each one a
 *   `job.waiting` event and a change to the list): the longest frame and long tasks; target no frame over 100 ms.
 *
 * Run: npx tsx bench/dashboard.ts       (about a minute; BENCH_STREAM_SECONDS sets the streaming time, default 10)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceConfigSchema } from '../src/interfaces/config.js';
import { startService } from '../src/interfaces/http/service.js';
import { SystemClock } from '../src/runtime/clocks.js';
import { launchChromium } from '../test/dashboard/browser.js';

const JOBS = 5000;
const EVENTS_PER_SECOND = 50;
const STREAM_SECONDS = Number(process.env.BENCH_STREAM_SECONDS ?? 10);
const LOADS = 7;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Bytes on the wire of a gzip-accepting GET. */
function gzippedSize(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve(bytes));
    })
      .on('error', reject)
      .end();
  });
}

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
    // t2v-A14B downloads so slowly that every job for it waits for the whole run.
    simulated: { downloadMiBPerSecond: 0.001 },
  }),
  { clock },
);
const browser = await launchChromium();
try {
  // 1. First render, fresh page each time (the server's gzip and ETags as a browser sees them).
  const sinceStart: number[] = [];
  const sinceLoad: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const page = await browser.context.newPage();
    await page.goto(`${service.url}/`, { waitUntil: 'load' });
    await page.waitForFunction("performance.getEntriesByName('dashboard-rendered').length > 0");
    const t = (await page.evaluate(
      "(() => { const nav = performance.getEntriesByType('navigation')[0]; const mark = performance.getEntriesByName('dashboard-rendered')[0]; return { mark: mark.startTime, load: nav.loadEventEnd }; })()",
    )) as { mark: number; load: number };
    if (i > 0) {
      sinceStart.push(t.mark);
      sinceLoad.push(t.mark - t.load);
    }
    await page.close();
  }

  // 2. Transferred size.
  const sizes = await Promise.all(['/', '/dashboard/app.js', '/dashboard/app.css'].map((p) => gzippedSize(`${service.url}${p}`)));
  const total = sizes.reduce((a, b) => a + b, 0);

  // 3. 5,000 waiting jobs, then the jobs view while a new job arrives every 20 ms.
  const submit = () =>
    fetch(`${service.url}/v1/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 't2v-A14B', prompt: 'a fox', allowAlternatives: false, allowMock: false }),
    }).then((r) => {
      if (r.status !== 202) throw new Error(`submit answered ${r.status}`);
    });
  for (let i = 0; i < JOBS; i += 50) await Promise.all(Array.from({ length: 50 }, submit));
  const frames: Record<string, { longestFrame: number; p99Frame: number; longTasks: number; longestTask: number; frames: number }> = {};
  for (const perPage of [50, 200]) {
    const page = await browser.context.newPage();
    await page.goto(`${service.url}/#/jobs`);
    await page.locator('[data-testid=jobs-table] tbody tr').first().waitFor();
    if (perPage !== 50) await page.locator('.pager select').selectOption(String(perPage));
    await page.locator(`[data-testid=jobs-table] tbody tr >> nth=${perPage - 1}`).waitFor();
    await page.evaluate(`(() => {
      window.__frames = []; window.__tasks = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__tasks.push(e.duration); }).observe({ type: 'longtask' });
      let last = performance.now();
      const tick = (now) => { window.__frames.push(now - last); last = now; if (!window.__stop) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    })()`);
    const interval = 1000 / EVENTS_PER_SECOND;
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < STREAM_SECONDS * 1000) {
      void submit();
      sent++;
      const next = started + sent * interval;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
    const result = (await page.evaluate(
      '(() => { window.__stop = true; const f = window.__frames.slice(1).sort((a, b) => a - b); return { longestFrame: f[f.length - 1], p99Frame: f[Math.floor(f.length * 0.99)], frames: f.length, longTasks: window.__tasks.length, longestTask: Math.max(0, ...window.__tasks) }; })()',
    )) as { longestFrame: number; p99Frame: number; longTasks: number; longestTask: number; frames: number };
    frames[`${perPage} per page`] = result;
    await page.close();
  }
  const jobsNow = ((await (await fetch(`${service.url}/v1/activity`)).json()) as { counts: Record<string, number> }).counts.waiting_for_model;

  const f = (n: number) => n.toFixed(1);
  console.log('\n| measure | value | target | ratio to target |');
  console.log('|---|---:|---:|---:|');
  console.log(`| first render, ms after navigation start (median of ${LOADS - 1}) | ${f(median(sinceStart))} | | |`);
  console.log(`| first render, ms after the load event (median of ${LOADS - 1}) | ${f(median(sinceLoad))} | ≤ 300 | ${f((median(sinceLoad) / 300) * 100)} % |`);
  console.log(`| transferred, gzipped: page ${sizes[0]} B + script ${sizes[1]} B + styles ${sizes[2]} B | ${f(total / 1024)} KB | ≤ 150 KB | ${f((total / 1024 / 150) * 100)} % |`);
  for (const [view, r] of Object.entries(frames)) {
    console.log(
      `| jobs view, ${view}, ${JOBS}+ jobs waiting, ${EVENTS_PER_SECOND} events/s for ${STREAM_SECONDS} s: longest frame ms (p99 ${f(r.p99Frame)}, ${r.frames} frames, ${r.longTasks} long tasks, longest ${f(r.longestTask)} ms) | ${f(r.longestFrame)} | ≤ 100 | ${f((r.longestFrame / 100) * 100)} % |`,
    );
  }
  console.log(`\n(${jobsNow} jobs waiting at the end)`);
} finally {
  await browser.close();
  await service.stop();
  clock.dispose();
  await rm(dataDir, { recursive: true, force: true });
}
