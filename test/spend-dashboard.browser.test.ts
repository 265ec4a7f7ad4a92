// Limits and budgets in the dashboard, in a real browser: set them in the connection
// settings dialog, and see spent / reserved / limit on the Connections page.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, openPage, screenshot, signIn } from './browser.js';
import { type Stack, startStack } from './harness.js';

const PRICES_YAML = ['prices:', '  - model: race-model', '    inputPerMTok: 0', '    outputPerMTok: 10'].join('\n');

let stack: Stack;
let browser: Browser;
let page: Page;
beforeAll(async () => {
  stack = await startStack({}, { configYaml: PRICES_YAML });
  browser = await openBrowser();
  page = browser.page;
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('limits and budgets in the dashboard', () => {
  it('sets a limit and a budget in the settings dialog and shows what is spent of them on Connections', async () => {
    const { id, key } = await stack.createConnection({ name: 'spend-browser' });
    await signIn(page, stack);
    await openPage(page, stack, 'connections', 'Connections');
    await page.getByRole('button', { name: 'Settings: spend-browser' }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings: spend-browser' });

    await dialog.getByRole('button', { name: 'Add limit' }).click();
    await dialog.getByLabel('Limit 1: per').selectOption('user');
    await dialog.getByLabel('Limit 1: window').selectOption('minute');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => dialog.getByText('Rate limits: give requests, tokens or both').count()).toBe(1);
    await dialog.getByLabel('Limit 1: requests').fill('10');
    await dialog.getByRole('button', { name: 'Add budget' }).click();
    await dialog.getByLabel('Budget 1: window').selectOption('total');
    await dialog.getByLabel('Budget 1: USD').fill('0.01');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    const stored = await stack.admin('GET', `/api/connections/${id}`);
    expect(stored.json.policy).toMatchObject({
      limits: [{ per: 'user', window: 'minute', requests: 10 }],
      budgets: [{ per: 'connection', window: 'total', usd: 0.01 }],
    });

    const words = Array.from({ length: 100 }, () => 'word').join(' ');
    await stack
      .client(key, { headers: { 'x-mock-reply': words } })
      .chat.completions.create({ model: 'race-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 });
    await page.reload();
    await expect
      .poll(() => page.getByText('$0.01 per total per connection: $0.0010 used of $0.0100').count(), {
        timeout: 15_000,
      })
      .toBe(1);
    await screenshot(page, 'connections-spend-1280');
  });
});
