// Drives Chromium (Debian's, or CHROMIUM_PATH) with playwright-core for the dashboard's browser
// tests: a fresh profile per run, headless, no sandbox, no GPU, background networking off.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { chromiumPath } from './chromium.js';
import type { Stack } from './harness.js';

/** `npm test` provides it first (test/chromium.ts, the pretest script). */
export const CHROMIUM = chromiumPath();
export const SCREENSHOT_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'usage-panda-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'Europe/Berlin',
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Signs in through the sign-in page with the stack's admin token. */
export async function signIn(page: Page, stack: Stack): Promise<void> {
  await page.goto(`${stack.gateway.url}/`);
  await page.getByLabel('Admin token').fill(stack.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).waitFor();
}

/** Loads a page of the dashboard afresh by its hash route and waits for its heading. */
export async function openPage(page: Page, stack: Stack, route: string, heading: string): Promise<void> {
  // A hash change alone would keep the app and its cached data: load it anew, as a person would.
  await page.goto('about:blank');
  await page.goto(`${stack.gateway.url}/#/${route}`);
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}
