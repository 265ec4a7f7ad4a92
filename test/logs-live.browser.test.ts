// The live Logs page in a real browser: after its first load it asks only for the records
// newer than its newest row (`since=`) and merges them on top, newest first, without reading
// the page again; requests are made with the openai SDK through the real gateway.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, openPage, signIn } from './browser.js';
import { type Stack, startStack } from './harness.js';

let stack: Stack;
let browser: Browser;
let page: Page;
let key: string;

beforeAll(async () => {
  stack = await startStack();
  browser = await openBrowser();
  page = browser.page;
  key = (await stack.createConnection({ name: 'live-logs' })).key;
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function chat(user: string): Promise<string> {
  const { response } = await stack
    .client(key)
    .chat.completions.create({ model: 'gpt-4o-mini', user, messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  return response.headers.get('x-usagepanda-request-id') ?? '';
}

describe('live Logs page', () => {
  it('refreshes with since=<newest id> and merges the new rows on top', async () => {
    const first = [await chat('live-user-1'), await chat('live-user-2')];
    await stack.gateway.logWriter.drain();
    await signIn(page, stack);

    const asked: URL[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/api/logs') asked.push(url);
    });
    await openPage(page, stack, 'logs', 'Logs');
    const table = page.getByRole('table', { name: 'Request log' });
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: 15_000 }).toBe(2);
    // Live refreshes go on every 2 s with the newest id shown.
    await expect
      .poll(() => asked.some((url) => url.searchParams.get('since') === first[1]), { timeout: 15_000 })
      .toBe(true);

    const later = [await chat('live-user-3'), await chat('live-user-4'), await chat('live-user-5')];
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: 15_000 }).toBe(5);
    const users = await table.locator('tbody tr').allTextContents();
    expect(users.map((row) => /live-user-\d/.exec(row)?.[0])).toEqual([
      'live-user-5',
      'live-user-4',
      'live-user-3',
      'live-user-2',
      'live-user-1',
    ]);
    await expect
      .poll(() => asked.some((url) => url.searchParams.get('since') === later[2]), { timeout: 15_000 })
      .toBe(true);

    // Only the first load read the page whole; every refresh asked for what was new.
    const whole = asked.filter((url) => !url.searchParams.has('since'));
    expect(whole).toHaveLength(1);
    expect(asked.length).toBeGreaterThanOrEqual(3);
  });
});
