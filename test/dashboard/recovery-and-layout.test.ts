/**
 * The dashboard when things go wrong, and where people use it: a job whose GPU runs out of memory every time shows
 * its recovery attempts and re-plans on the timeline and ends with a labelled preview; the page works at phone
 * width in dark, and by keyboard alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitForFinal } from '../http/support.js';
import { openDashboard, type DashboardHarness } from './page-fixtures.js';

describe('a job that keeps running out of GPU memory', () => {
  let h: DashboardHarness;
  before(async () => {
    h = await openDashboard({ simulated: { faultProbabilities: { oom: 1 } } });
  });
  after(() => h.close());

  test('the timeline shows each recovery attempt and re-plan, and the preview result carries the label', async (t) => {
    const { page, service } = h;
    const accepted = (await (
      await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'a storm', allowAlternatives: false, allowQualityReduction: false } })
    ).json()) as { id: string };
    await page.goto(`${service.url}/#/jobs/${accepted.id}`);
    const job = (await waitForFinal(service, accepted.id, undefined, 30_000)) as { status: string; output: { isPreview: boolean } | null; timeline: Array<{ kind: string }> };
    await page.getByTestId('job-status').filter({ hasText: job.status }).waitFor();
    // The timeline's last entry (the estimate's final truth) is written just after the job ends: compare the page
    // with the stored timeline once both have it, within a bound.
    let kinds: string[] = [];
    let shown: Array<string | null> = [];
    for (const until = Date.now() + 10_000; Date.now() < until; ) {
      const stored = (await (await service.request(`/v1/generations/${accepted.id}`)).json()) as { timeline: Array<{ kind: string }> };
      kinds = stored.timeline.map((e) => e.kind).filter((k) => k !== 'progress');
      shown = await page.getByTestId('timeline').locator('li').evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')));
      if (kinds.at(-1) === 'estimate' && JSON.stringify(shown) === JSON.stringify(kinds)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(kinds.includes('recovery_attempt'), `recovery attempts on the timeline: ${kinds.join(', ')}`);
    assert.deepEqual(shown, kinds, 'the page shows every step of the timeline, in order');
    if (job.output?.isPreview) {
      await page.getByTestId('output').waitFor();
      assert.ok((await page.getByText('PREVIEW', { exact: true }).count()) >= 1, 'the preview is labelled');
      assert.match(await page.getByTestId('output').innerText(), /a labelled preview, not a real generation/);
    } else {
      assert.equal(job.status, 'failed', 'without a preview, the job failed and says why');
      assert.ok((await page.getByRole('status').filter({ hasText: 'memory' }).count()) >= 1);
    }
    t.diagnostic(`screenshot: ${await h.shot('recovery-timeline')}`);
    await page.goto(`${service.url}/#/system`);
    await page.getByText(/\d+ attempts, [\d.]+ % successful/).waitFor();
    const stats = (await (await service.request('/v1/recovery/stats')).json()) as { totalAttempts: number };
    assert.ok(stats.totalAttempts > 0);
    assert.match(await page.locator('main').innerText(), new RegExp(`${stats.totalAttempts} attempts`));
    // The workers panel: with the embedded store, this process, its backend and what it has installed.
    const { workers } = (await (await service.request('/v1/workers')).json()) as { workers: Array<{ workerId: string; backends: Array<{ backendId: string; installed: string[] }> }> };
    assert.equal(workers.length, 1);
    const row = page.getByTestId('workers').locator(`tr[data-worker="${workers[0]!.workerId}"]`);
    await row.waitFor();
    const text = await row.innerText();
    for (const b of workers[0]!.backends) {
      assert.ok(text.includes(b.backendId), text);
      for (const model of b.installed) assert.ok(text.includes(model), `${model} in ${text}`);
    }
    t.diagnostic(`screenshot: ${await h.shot('recovery-stats')}`);
  });
});

describe('at phone width, in dark, by keyboard', () => {
  let h: DashboardHarness;
  before(async () => {
    h = await openDashboard({}, { width: 390, height: 844, colorScheme: 'dark' });
  });
  after(() => h.close());

  test('nothing overflows the screen, the colours are dark, and a job can be submitted with the keyboard alone', async (t) => {
    const { page, service } = h;
    await page.goto(`${service.url}/`);
    await page.getByTestId('submit-form').waitFor();
    await page.getByTestId('plan').waitFor();
    const fits = async () => (await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')) as boolean;
    assert.ok(await fits(), 'the submit page fits 390 px');
    const background = (await page.evaluate('getComputedStyle(document.body).backgroundColor')) as string;
    const [r, g, b] = background.match(/\d+/g)!.map(Number);
    assert.ok(r! + g! + b! < 150, `a dark background: ${background}`);
    t.diagnostic(`screenshot: ${await h.shot('phone-dark-submit')}`);

    // The skip link first, then into the form: the model, then the prompt.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.name'), 'model');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate('document.activeElement.value'), 'ti2v-5B');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.name'), 'prompt');
    await page.keyboard.type('typed with the keyboard');
    let guard = 0;
    while ((await page.evaluate('document.activeElement.textContent')) !== 'Submit' && guard++ < 40) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
    const id = decodeURIComponent(page.url().split('#/jobs/')[1]!);
    const job = await waitForFinal(service, id);
    assert.equal(job.prompt, 'typed with the keyboard');
    assert.equal(job.requestedModel, 'ti2v-5B');
    await page.getByTestId('job-status').filter({ hasText: 'succeeded' }).waitFor();
    assert.ok(await fits(), 'the job page fits 390 px');
    t.diagnostic(`screenshot: ${await h.shot('phone-dark-job')}`);
    await page.goto(`${service.url}/#/jobs`);
    await page.locator('[data-job]').first().waitFor();
    assert.ok(await fits(), 'the jobs page fits 390 px (its table scrolls inside its panel)');
    t.diagnostic(`screenshot: ${await h.shot('phone-dark-jobs')}`);
    assert.deepEqual(h.pageErrors, []);
  });
});
