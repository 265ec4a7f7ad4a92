// Per-user limits and budgets on End-User Tracking, in a real browser: filtered to a
// connection, each listed user shows what they spent of their own budget.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, openPage, screenshot, signIn } from './browser.js';
import { type Stack, startStack } from './harness.js';

/** Only output is priced: 100 output tokens at $10 per million cost $0.001. */
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

describe('per-user budgets on End-User Tracking', () => {
  it("shows each user's spent / reserved / limit bars when filtered to a connection with a per-user budget", async () => {
    const { id, key } = await stack.createConnection({
      name: 'users-spend',
      policy: { budgets: [{ per: 'user', window: 'total', usd: 0.01 }] },
    });
    const words = Array.from({ length: 100 }, () => 'word').join(' ');
    await stack.client(key, { headers: { 'x-mock-reply': words } }).chat.completions.create({
      model: 'race-model',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 100,
      user: 'alice',
    });
    await stack.client(key).chat.completions.create({
      model: 'race-model',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1,
      user: 'bob',
    });

    await signIn(page, stack);
    await openPage(page, stack, `users?connection=${id}`, 'End-User Tracking');
    const table = page.getByRole('table', { name: 'End users' });
    const alice = table.getByRole('row').filter({ has: page.getByRole('link', { name: 'alice', exact: true }) });
    await expect
      .poll(() => alice.getByText('$0.01 per total per user: $0.0010 used of $0.0100').count(), { timeout: 15_000 })
      .toBe(1);
    const bob = table.getByRole('row').filter({ has: page.getByRole('link', { name: 'bob', exact: true }) });
    expect(await bob.getByText('$0.01 per total per user: $0.0000 used of $0.0100').count()).toBe(1);
    expect(await table.getByRole('columnheader', { name: 'Limits and budgets' }).count()).toBe(1);
    await screenshot(page, 'users-spend-1280');

    // Unfiltered, rows of many connections: no per-user bars (connection-wide ones are on Connections).
    await openPage(page, stack, 'users', 'End-User Tracking');
    await table.getByRole('link', { name: 'alice', exact: true }).waitFor();
    expect(await table.getByRole('columnheader', { name: 'Limits and budgets' }).count()).toBe(0);
  });
});
