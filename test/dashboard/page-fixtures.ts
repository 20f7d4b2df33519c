/** What the dashboard's browser tests share: a service, a browser page on it, screenshots kept in a temp dir. */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startTestService, type TestService } from '../http/support.js';
import { launchChromium, type TestBrowser } from './browser.js';

/** A 2×2 PNG (red, green, blue, white), as the file picker and drag and drop take it. */
export const PNG_BYTES = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR4nGP4z8DAAMIM/4EAAB/uBfsL2WiLAAAAAElFTkSuQmCC',
  'base64',
);

/** Where this run's screenshots go: one directory per test file under the system temp dir, kept to be looked at. */
export const SHOTS_DIR = join(tmpdir(), 'understudy-dashboard-screenshots');

/** A service, a browser and a page, opened together and closed together. */
export interface DashboardHarness {
  service: TestService;
  browser: TestBrowser;
  page: Page;
  /** Errors the page threw or logged; a test ends by checking there were none. */
  pageErrors: string[];
  /** Loads `path` of the service afresh (a new document, even when only the hash differs from the current URL). */
  visit(path: string): Promise<void>;
  /** Waits until the plan preview answers for the form as it now stands. */
  planSettled(): Promise<void>;
  /** Saves a full-page screenshot as `<name>.png`; resolves with its path. */
  shot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts a service (config `overrides`) and a browser page on it. */
export async function openDashboard(overrides: Record<string, unknown> = {}, view: { width?: number; height?: number; colorScheme?: 'light' | 'dark' } = {}): Promise<DashboardHarness> {
  const service = await startTestService(overrides);
  const browser = await launchChromium(view).catch(async (error: unknown) => {
    await service.close();
    throw error;
  });
  const page = await browser.context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // A refused request (the 401 before sign-in, a 400 a test provokes) is logged by the browser; it is expected.
    if (message.type() === 'error' && !/status of 40[01]/.test(message.text())) pageErrors.push(message.text());
  });
  await mkdir(SHOTS_DIR, { recursive: true });
  return {
    service,
    browser,
    page,
    pageErrors,
    visit: async (path) => {
      await page.goto('about:blank');
      await page.goto(`${service.url}${path}`);
    },
    planSettled: async () => {
      await page.getByTestId('plan').or(page.getByRole('alert')).first().waitFor();
      await page.getByTestId('plan-updating').waitFor({ state: 'detached' });
    },
    shot: async (name) => {
      const path = join(SHOTS_DIR, `${name}.png`);
      await writeFile(path, await page.screenshot({ fullPage: true }));
      return path;
    },
    close: async () => {
      await browser.close();
      await service.close();
    },
  };
}
