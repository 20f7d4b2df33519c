/**
 * The dashboard's live connection and its lists: a dropped events socket is announced, reconnects and reads again
 * what it missed; the jobs list pages through the API's cursor; an image can be dropped on the form; a model's
 * alternatives show the parts of each score.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type WebSocket from 'ws';
import { waitUntil } from '../http/support.js';
import { PNG_BYTES, openDashboard, type DashboardHarness } from './page-fixtures.js';

describe('live updates and lists', () => {
  let h: DashboardHarness;
  before(async () => {
    // Downloads that do not finish during the test: t2v-A14B jobs wait.
    h = await openDashboard({ simulated: { downloadMiBPerSecond: 0.01 }, maxQueueSize: 1000 });
  });
  after(() => h.close());

  const submitWaiting = async (prompt: string): Promise<string> => {
    const response = await h.service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt, allowAlternatives: false } });
    assert.equal(response.status, 202);
    return ((await response.json()) as { id: string }).id;
  };

  test('a dropped events socket is announced, reconnects, and the list reads again what it missed', async (t) => {
    const { page, service } = h;
    await page.goto(`${service.url}/#/jobs`);
    await page.getByTestId('live-state').filter({ hasText: 'live' }).waitFor();
    const server = (service.app as unknown as { websocketServer: { clients: Set<WebSocket> } }).websocketServer;
    assert.equal(server.clients.size, 1, 'one socket for the whole page');
    for (const client of server.clients) client.terminate();
    await page.getByRole('alert').filter({ hasText: 'live connection dropped' }).waitFor();
    t.diagnostic(`screenshot: ${await h.shot('reconnecting')}`);
    await page.getByTestId('live-state').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByRole('alert').filter({ hasText: 'live connection dropped' }).count(), 0, 'the banner goes once it is back');
    const id = await submitWaiting('after the reconnect');
    await page.locator(`tr[data-job="${id}"]`).waitFor({ timeout: 5_000 });
  });

  test('the jobs list pages through the cursor, and the state filter counts', async (t) => {
    const { page, service } = h;
    for (let i = 0; i < 30; i++) await submitWaiting(`job ${i}`);
    const total = ((await (await service.request('/v1/generations?limit=1')).json()) as { total: number }).total;
    await h.visit('/#/jobs');
    await page.locator('.pager select').selectOption('25');
    await page.getByText(`page 1 · ${total} jobs`).waitFor();
    const rowsShown = () => page.locator('tr[data-job]').count();
    await waitUntil(async () => (await rowsShown()) === 25, 5_000, '25 rows');
    const first = await page.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')));
    assert.equal(first.length, 25);
    await page.getByRole('button', { name: 'next →' }).click();
    await page.getByText(`page 2 · ${total} jobs`).waitFor();
    await waitUntil(async () => (await rowsShown()) === total - 25, 5_000, `${total - 25} rows`);
    const second = await page.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')));
    assert.equal(second.length, total - 25);
    assert.ok(second.every((id) => !first.includes(id)), 'page 2 holds other jobs');
    await page.getByRole('button', { name: '← previous' }).click();
    await page.getByText(`page 1 · ${total} jobs`).waitFor();
    await page.locator('button[data-state="waiting_for_model"]').click();
    await page.getByText(`${total} jobs waiting for model`).waitFor();
    assert.match(await page.locator('button[data-state="waiting_for_model"]').innerText(), new RegExp(String(total)));
    assert.match(await page.locator('button[data-state="succeeded"]').innerText(), /\b0\b/);
    t.diagnostic(`screenshot: ${await h.shot('jobs-paged')}`);
  });

  test('an image dropped on the form is previewed and goes into the plan', async (t) => {
    const { page } = h;
    await h.visit('/#/submit');
    await page.locator('select[name=model]').selectOption('i2v-A14B');
    await page.locator('textarea[name=prompt]').fill('the statue turns its head');
    const dataTransfer = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File([Uint8Array.from(atob('${PNG_BYTES.toString('base64')}'), (c) => c.charCodeAt(0))], 'dropped.png', { type: 'image/png' })); return dt; })()`,
    );
    await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer });
    await page.getByAltText('input image dropped.png').waitFor();
    // i2v-A14B needs an image: with one, ti2v-5B (which takes one) is a stand-in the planner weighs.
    await h.planSettled();
    assert.match(await page.getByTestId('plan-message').innerText(), /i2v-A14B/);
    assert.match(await page.getByTestId('plan-options').innerText(), /ti2v-5B/);
    assert.doesNotMatch(await page.getByTestId('plan-options').innerText(), /needs an input image/);
    t.diagnostic(`screenshot: ${await h.shot('dropped-image')}`);
  });

  test("a model's alternatives show each score's parts and what was ruled out", async (t) => {
    const { page, service } = h;
    await h.visit('/#/models');
    const card = page.locator('[data-model="t2v-A14B"]');
    await card.getByRole('button', { name: 'Alternatives' }).click();
    const expected = (await (await service.request('/v1/models/t2v-A14B/alternatives?image=false')).json()) as {
      suggestions: Array<{ suggestedModel: string; compatibilityScore: number }>;
      excluded: Array<{ model: string; reason: string }>;
    };
    const rows = card.locator('.alternatives tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), expected.suggestions.length);
    for (const [i, s] of expected.suggestions.entries()) {
      const text = await rows.nth(i).innerText();
      assert.ok(text.includes(s.suggestedModel) && text.includes(s.compatibilityScore.toFixed(2)), text);
      assert.match(text, /× 0\.4/, 'the weights of the parts');
    }
    for (const e of expected.excluded) assert.match(await card.locator('.excluded').innerText(), new RegExp(e.reason.replace(/[()]/g, '.')));
    t.diagnostic(`screenshot: ${await h.shot('alternatives')}`);
    assert.deepEqual(h.pageErrors, []);
  });
});

describe('behind a job that never finishes', () => {
  let h: DashboardHarness;
  before(async () => {
    // Every job hangs on the GPU: the first runs forever, the others queue behind it.
    h = await openDashboard({ simulated: { faultProbabilities: { hang: 1 } } });
  });
  after(() => h.close());

  test('queued jobs show their place in the queue, the running one its progress', async (t) => {
    const { page, service } = h;
    const ids: string[] = [];
    for (const prompt of ['first', 'second', 'third']) {
      const response = await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt } });
      ids.push(((await response.json()) as { id: string }).id);
    }
    await waitUntil(async () => ((await (await service.request(`/v1/generations/${ids[0]}`)).json()) as { status: string }).status === 'running', 10_000, 'the first job to run');
    const positions = ((await (await service.request(`/v1/queue/positions?ids=${ids.join(',')}`)).json()) as { positions: Record<string, number | null> }).positions;
    assert.equal(positions[ids[0]!], null, 'the running job is not queued');
    await h.visit('/#/jobs');
    for (const id of ids.slice(1)) {
      assert.equal(typeof positions[id], 'number');
      await page.locator(`tr[data-job="${id}"] td`, { hasText: `#${positions[id]}` }).waitFor();
    }
    await page.locator(`tr[data-job="${ids[0]}"][data-status="running"]`).waitFor();
    t.diagnostic(`screenshot: ${await h.shot('queue-positions')}`);
  });
});
