/**
 * The dashboard end to end in real Chromium against the real service on loopback (simulated GPU): submit with an
 * image and watch the output play, the plan's options, cancel, a download bar, the token form, a bad field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitForFinal, waitUntil } from '../http/support.js';
import { PNG_BYTES, openDashboard, type DashboardHarness } from './page-fixtures.js';

const TOKEN = 'dashboard-token-0123456789';

describe('the dashboard', () => {
  let h: DashboardHarness;
  before(async () => {
    // Downloads at 7 MiB/s simulated (about 4 s for i2v-A14B here): slow enough to watch, fast enough to finish.
    h = await openDashboard({ simulated: { downloadMiBPerSecond: 7 } });
  });
  after(() => h.close());

  test('submitting the form with an image runs the job to succeeded and plays its output', async (t) => {
    const { page, service } = h;
    await page.goto(`${service.url}/`);
    await page.locator('select[name=model]').selectOption('ti2v-5B');
    await page.locator('textarea[name=prompt]').fill('a lighthouse at dusk');
    await page.locator('input[type=file][name=image]').setInputFiles({ name: 'input.png', mimeType: 'image/png', buffer: PNG_BYTES });
    await page.getByAltText('input image input.png').waitFor();
    await page.getByTestId('plan-model').filter({ hasText: 'ti2v-5B' }).waitFor();
    await page.getByRole('button', { name: 'Submit' }).click();

    await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
    const id = decodeURIComponent(page.url().split('#/jobs/')[1]!);
    await page.getByTestId('job-status').filter({ hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    const output = page.getByTestId('output').locator('img');
    await output.waitFor();
    // The page's own types (DOM) are not this file's: the checks run in the page as expressions (evaluate, which the
    // page's CSP allows, unlike waitForFunction's string predicates).
    await waitUntil(
      async () => page.evaluate("(() => { const img = document.querySelector('[data-testid=output] img'); return img !== null && img.complete && img.naturalWidth > 0; })()"),
      10_000,
      'the output image to decode',
    );
    const decoded = (await page.evaluate("(() => { const img = document.querySelector('[data-testid=output] img'); return { width: img.naturalWidth, src: img.src }; })()")) as {
      width: number;
      src: string;
    };
    assert.ok(decoded.width > 0, 'the output image decodes');
    assert.match(decoded.src, /^blob:/, 'fetched with the token, shown from a blob URL');

    const job = await waitForFinal(service, id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.hasImage, true, 'the image went with the request');
    assert.equal((job.output as { isPreview: boolean }).isPreview, false);
    assert.equal(await page.getByText('PREVIEW', { exact: true }).count(), 0, 'a real result carries no preview label');
    const timeline = await page.getByTestId('timeline').innerText();
    assert.match(timeline, /succeeded on ti2v-5B/);
    t.diagnostic(`screenshot: ${await h.shot('submit-succeeded')}`);
    assert.deepEqual(h.pageErrors, []);
  });

  test("the plan preview shows the engine's strategy and every option with why it lost", async (t) => {
    const { page, service } = h;
    await h.visit('/#/submit');
    await page.locator('select[name=model]').selectOption('t2v-A14B');
    await page.locator('textarea[name=prompt]').fill('a red fox running through snow');
    await page.getByTestId('plan-model').filter({ hasText: 't2v-A14B' }).waitFor();
    const expected = (await (
      await service.request('/v1/fallback-strategy', {
        method: 'POST',
        json: { model: 't2v-A14B', requirements: { resolution: '1280x720', quality: 'medium', speed: 'medium', priority: 'normal', hasImage: false, hasText: true } },
      })
    ).json()) as { strategyType: string; userMessage: string; fallbackOptions: Array<{ type: string; chosen: boolean; whyNot?: string }> };

    // The preview follows the form as it is typed: wait for the plan of the form as it now stands (a plan for the
    // form before the prompt was typed has the same message but other reasons).
    const rows = page.getByTestId('plan-options').locator('tbody tr');
    const matches = async (): Promise<string[]> => {
      const texts = await rows.allInnerTexts();
      if (texts.length !== expected.fallbackOptions.length) return [`${texts.length} rows, expected ${expected.fallbackOptions.length}`];
      return expected.fallbackOptions.flatMap((option, i) => {
        const text = texts[i]!;
        if (!text.includes(option.type.replace(/_/g, ' '))) return [`row ${i} lacks ${option.type}: ${text}`];
        if (option.chosen ? !/chosen/.test(text) : !text.includes(option.whyNot!)) return [`row ${i} lacks ${option.whyNot ?? 'chosen'}: ${text}`];
        return [];
      });
    };
    await waitUntil(async () => (await matches()).length === 0, 5_000, 'the plan of the typed form').catch(async () => assert.fail((await matches()).join('; ')));
    assert.match(await page.getByTestId('plan').innerText(), new RegExp(expected.strategyType.replace(/_/g, ' ')));
    assert.equal(await page.getByTestId('plan-message').innerText(), expected.userMessage);
    assert.equal(await page.getByTestId('plan-options').locator('tr.chosen').count(), 1);
    t.diagnostic(`screenshot: ${await h.shot('plan-options')}`);
  });

  test('a bad field shows the message the server gave, naming the field', async (t) => {
    const { page, service } = h;
    await h.visit('/#/submit');
    await page.locator('select[name=model]').selectOption('ti2v-5B');
    await page.locator('textarea[name=prompt]').fill('x');
    await page.locator('input[name=numFrames]').fill('0');
    await page.getByRole('button', { name: 'Submit' }).click();
    const server = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 'ti2v-5B', prompt: 'x', numFrames: 0 } })).json()) as {
      error: { message: string; details: Array<{ field: string; problem: string }> };
    };
    const alert = page.getByTestId('submit-form').getByRole('alert').filter({ hasText: '400 invalid_request' });
    await alert.waitFor();
    assert.ok((await alert.innerText()).includes(server.error.message), 'the whole server message is shown');
    const field = page.locator('#numFrames-error');
    assert.equal(await field.innerText(), server.error.details.find((d) => d.field === 'numFrames')!.problem);
    assert.equal(await page.locator('input[name=numFrames]').getAttribute('aria-invalid'), 'true');
    assert.match(page.url(), /#\/submit$/, 'nothing was accepted');
    // The plan preview asks the planner with the same field, and shows its answer too.
    await page.getByRole('alert').filter({ hasText: 'requirements.numFrames' }).waitFor();
    t.diagnostic(`screenshot: ${await h.shot('bad-field')}`);
  });

  test('a download bar moves to 100 % and the model becomes available', async (t) => {
    const { page, service } = h;
    await h.visit('/#/models');
    const card = page.locator('[data-model="i2v-A14B"]');
    await card.getByRole('button', { name: 'Download' }).click();
    const bar = page.getByTestId('download-i2v-A14B').locator('progress');
    await bar.waitFor();
    const seen: number[] = [];
    await waitUntil(
      async () => {
        const value = Number(await bar.getAttribute('value').catch(() => null));
        if (Number.isFinite(value)) seen.push(value);
        return value >= 1;
      },
      20_000,
      'the download bar to reach 100 %',
    );
    assert.ok(seen.some((v) => v > 0 && v < 1), `the bar moved through values between 0 and 1: ${seen.join(', ')}`);
    await card.locator('.badge').filter({ hasText: 'available' }).waitFor();
    assert.match(await page.getByTestId('download-i2v-A14B').innerText(), /100 %/);
    t.diagnostic(`screenshot: ${await h.shot('download-complete')}`);
    const models = (await (await service.request('/v1/models')).json()) as Array<{ id: string; status: string }>;
    assert.equal(models.find((m) => m.id === 'i2v-A14B')!.status, 'available');
  });
});

describe('cancelling', () => {
  let h: DashboardHarness;
  before(async () => {
    // A download that does not finish during the test: the job waits for it.
    h = await openDashboard({ simulated: { downloadMiBPerSecond: 0.01 } });
  });
  after(() => h.close());

  test('a waiting job is cancelled from the jobs list', async (t) => {
    const { page, service } = h;
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'a fox', allowAlternatives: false, allowMock: false } })).json()) as {
      id: string;
      status: string;
    };
    assert.equal(accepted.status, 'waiting_for_model');
    await h.visit('/#/jobs');
    const row = page.locator(`tr[data-job="${accepted.id}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-status'), 'waiting_for_model');
    t.diagnostic(`screenshot: ${await h.shot('jobs-before-cancel')}`);
    await row.getByRole('button', { name: /cancel/i }).click();
    await page.locator(`tr[data-job="${accepted.id}"][data-status="cancelled"]`).waitFor();
    const job = (await (await service.request(`/v1/generations/${accepted.id}`)).json()) as { status: string };
    assert.equal(job.status, 'cancelled');
    assert.equal(await row.getByRole('button', { name: /cancel/i }).count(), 0, 'a cancelled job offers no cancel');
    t.diagnostic(`screenshot: ${await h.shot('jobs-after-cancel')}`);
  });

  test('a job submitted elsewhere appears in the list live, without a reload', async () => {
    const { page, service } = h;
    await h.visit('/#/jobs');
    await page.getByTestId('jobs-table').waitFor();
    const accepted = (await (await service.request('/v1/generations', { method: 'POST', json: { model: 't2v-A14B', prompt: 'another', allowAlternatives: false } })).json()) as { id: string };
    await page.locator(`tr[data-job="${accepted.id}"]`).waitFor({ timeout: 5_000 });
  });
});

describe('with a token configured', () => {
  let h: DashboardHarness;
  before(async () => {
    h = await openDashboard({ token: TOKEN });
  });
  after(() => h.close());

  test('only the token form renders until the right token is given; the events socket gets it without a URL', async (t) => {
    const { page, service } = h;
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${service.url}/`);
    const form = page.getByTestId('login-form');
    await form.waitFor();
    assert.equal(await page.locator('nav').count(), 0, 'no navigation');
    assert.equal(await page.getByTestId('submit-form').count(), 0, 'no form');
    assert.equal(sockets.length, 0, 'no events socket before the token');
    t.diagnostic(`screenshot: ${await h.shot('login')}`);

    await page.getByLabel('Token').fill(`${TOKEN}-wrong`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'the bearer token is wrong' }).waitFor();
    assert.equal(await page.locator('nav').count(), 0);
    t.diagnostic(`screenshot: ${await h.shot('login-wrong')}`);

    await page.getByLabel('Token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('submit-form').waitFor();
    await page.getByTestId('live-state').filter({ hasText: 'live' }).waitFor();
    assert.ok(sockets.length >= 1);
    for (const url of sockets) assert.ok(!url.includes(TOKEN) && !url.includes('token'), `no token in ${url}`);
    t.diagnostic(`screenshot: ${await h.shot('signed-in')}`);

    await page.reload();
    await page.getByTestId('submit-form').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await form.waitFor();
  });
});
