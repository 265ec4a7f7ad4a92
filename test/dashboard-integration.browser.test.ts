// The dashboard pages that read the stats API, the CSV export, the auto-replies API and the
// full set of policy settings, in a real browser against a real gateway. These come from
// other workstreams (docs/admin-api.md): this file passes once they are merged with the
// dashboard.
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, openPage, screenshot, signIn } from './browser.js';
import { type Stack, startStack } from './harness.js';

const CSV_HEADER =
  'Timestamp,API Key,Operation,Model,Cost,Latency,Tokens,OpenAI ID,Error,Moderated,IP Address,User Agent,User,Organization,Trace ID,Flags';

let stack: Stack;
let browser: Browser;
let page: Page;
let connection: { id: string; key: string };
/** What the log holds after the requests below, read from the store. */
const expected = { requests: 0, costUsd: 0, tokens: 0 };

/** Fails at once, naming the missing workstream, instead of waiting for a page that cannot fill. */
async function requireEndpoint(path: string): Promise<void> {
  const { status } = await fetch(`${stack.gateway.url}${path}`, {
    headers: { authorization: `Bearer ${stack.adminToken}` },
  });
  expect(status, `GET ${path} must exist (merge the workstream that provides it)`).not.toBe(404);
}

/** A money or count text as the dashboard shows it ("$0.000123", "1,234") as a number. */
const numberIn = (text: string | null) => Number((text ?? '').replace(/[^0-9.]/g, ''));

beforeAll(async () => {
  stack = await startStack();
  connection = await stack.createConnection({ name: 'integration' });
  const client = stack.client(connection.key);
  for (const user of ['alice', 'alice', 'bob']) {
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      user,
      messages: [{ role: 'user', content: 'Hello' }],
    });
  }
  await client.embeddings.create({ model: 'text-embedding-3-small', user: 'alice', input: 'Hello' });
  await stack.gateway.logWriter.drain();
  const { records } = await stack.gateway.store.queryLogs({}, { limit: 500 });
  expected.requests = records.length;
  expected.costUsd = records.reduce((sum, r) => sum + (r.costUsd ?? 0), 0);
  expected.tokens = records.reduce((sum, r) => sum + (r.totalTokens ?? 0), 0);

  browser = await openBrowser();
  page = browser.page;
  await signIn(page, stack);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('dashboard with the stats, export and auto-replies APIs', () => {
  it('shows the right request count, cost, tokens and success rate on the dashboard cards', async () => {
    await requireEndpoint('/api/stats/summary');
    expect(expected.requests).toBe(4);
    expect(expected.costUsd).toBeGreaterThan(0);
    await openPage(page, stack, 'dashboard', 'Dashboard');
    const card = (id: string) => page.locator(`[data-card="${id}"] .stat-value`);
    await card('requests').waitFor();
    expect(numberIn(await card('requests').textContent())).toBe(expected.requests);
    const cost = numberIn(await card('cost').textContent());
    // Shown to three significant digits.
    expect(Math.abs(cost - expected.costUsd) / expected.costUsd).toBeLessThan(0.01);
    expect(numberIn(await card('tokens').textContent())).toBe(expected.tokens);
    expect(await card('success').textContent()).toBe('100%');

    await page.getByRole('img', { name: 'Cost per period, stacked by operation' }).waitFor();
    const models = page.getByRole('table', { name: 'Requests per model' });
    const chatRow = models.getByRole('row', { name: /gpt-4o-mini/ });
    expect(await chatRow.locator('td').nth(1).textContent()).toBe('3');
    await screenshot(page, 'dashboard-merged-1280');
  });

  it('shows requests and cost per connection on the Connections page', async () => {
    await requireEndpoint('/api/stats/timeseries?interval=day&split=connection');
    await openPage(page, stack, 'connections', 'Connections');
    const row = page.getByRole('row', { name: /integration/ });
    await expect
      .poll(async () => (await row.locator('td').nth(3).textContent())?.trim())
      .toBe(String(expected.requests));
  });

  it('saves every policy setting of the settings dialog as the API stores it', async () => {
    const { id } = await stack.createConnection({ name: 'all-settings' });
    await openPage(page, stack, 'connections', 'Connections');
    await page.getByRole('button', { name: 'Settings: all-settings' }).click();
    const dialog = page.getByRole('dialog', { name: 'Settings: all-settings' });
    await dialog.getByLabel('Enforce User IDs').check();
    await dialog.getByLabel('Allow header overrides').uncheck();
    await dialog.getByLabel('Max tokens').fill('256');
    await dialog.getByLabel('Max prompt characters').fill('1000');
    await dialog.getByLabel('Blocked models').fill('gpt-4\n1024x1024');
    await dialog.getByLabel('Allowed models').fill('gpt-4o-mini, text-embedding-3-small');
    await dialog.getByLabel('Auto-moderation').check();
    await dialog.getByLabel('Request wordlists: profanity').selectOption('block');
    await dialog.getByLabel('Request wordlists: custom').selectOption('audit');
    await dialog.getByLabel('Response wordlists: dan').selectOption('redact');
    await dialog.getByLabel('Custom wordlist').fill('project falcon\nsecret sauce');
    await dialog.getByLabel('Prompt reflection').selectOption('redact');
    await dialog.getByLabel('Retry count').fill('2');
    await dialog.getByLabel('Total upstream timeout (ms)').fill('1800000');
    await dialog.getByLabel('Log request bodies').check();
    await dialog.getByLabel('Log response bodies').check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    // Either saved (the dialog closes) or refused (the API's message shows in the dialog).
    await expect
      .poll(async () => (await dialog.count()) === 0 || (await dialog.getByRole('alert').count()) > 0)
      .toBe(true);
    expect(await dialog.getByRole('alert').allTextContents()).toEqual([]);

    const { json } = await stack.admin('GET', `/api/connections/${id}`);
    expect(json.policy).toEqual({
      allowHeaderOverrides: false,
      enforceUserIds: true,
      maxTokens: 256,
      maxPromptChars: 1000,
      blockedModels: ['gpt-4', '1024x1024'],
      allowedModels: ['gpt-4o-mini', 'text-embedding-3-small'],
      autoModerate: true,
      requestWordlists: { profanity: 'block', custom: 'audit' },
      responseWordlists: { dan: 'redact' },
      customWordlist: ['project falcon', 'secret sauce'],
      promptReflection: 'redact',
      retryCount: 2,
      upstreamTotalTimeoutMs: 1800000,
      passthroughPaths: [],
      limits: [],
      budgets: [],
      timezone: 'UTC',
      onStateUnavailable: 'deny',
      defaultMaxOutputTokens: 4096,
      logRequestBody: true,
      logResponseBody: true,
    });

    // Reopened, the dialog shows what is stored.
    await page.getByRole('button', { name: 'Settings: all-settings' }).click();
    expect(await dialog.getByLabel('Max tokens').inputValue()).toBe('256');
    expect(await dialog.getByLabel('Custom wordlist').inputValue()).toBe('project falcon\nsecret sauce');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('exports the CSV of the current filter with the header row of SPEC §4', async () => {
    await requireEndpoint('/api/logs/export.csv');
    await page.goto(`${stack.gateway.url}/#/logs?user=alice`);
    await page.getByRole('table', { name: 'Request log' }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Export CSV' }).click(),
    ]);
    const path = await download.path();
    const lines = (await readFile(path, 'utf8')).trim().split(/\r?\n/);
    expect(lines[0]?.replace(/^\uFEFF/, '')).toBe(CSV_HEADER);
    // The filter applies: alice's three requests only.
    expect(lines).toHaveLength(4);
    expect(lines.slice(1).every((line) => line.includes(',alice,'))).toBe(true);
  });

  it('lists end users with their usage, and a click opens that user’s logs', async () => {
    await requireEndpoint('/api/stats/users');
    await openPage(page, stack, 'users', 'End-User Tracking');
    const table = page.getByRole('table', { name: 'End users' });
    const alice = table.getByRole('row', { name: /alice/ });
    await alice.waitFor();
    expect(await alice.textContent()).toContain('integration');
    expect(await table.getByRole('row', { name: /bob/ }).count()).toBe(1);
    await screenshot(page, 'users-merged-1280');

    await alice.getByRole('link', { name: 'alice' }).click();
    await page.getByRole('heading', { level: 1, name: 'Logs' }).waitFor();
    expect(page.url()).toContain('user=alice');
    await expect.poll(() => page.getByRole('table', { name: 'Request log' }).locator('tbody tr').count()).toBe(3);
  });

  it('adds an auto-reply that then answers a chat request without calling upstream', async () => {
    await requireEndpoint('/api/autoreplies');
    await openPage(page, stack, 'autoreplies', 'Auto-Replies');
    await page.getByRole('button', { name: 'Add auto-reply' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add auto-reply' });
    await dialog.getByLabel('Request').fill('What is Usage Panda?');
    await dialog.getByLabel('Response').fill('A gateway for LLM APIs.');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'What is Usage Panda?' }).waitFor();
    await screenshot(page, 'autoreplies-merged-1280');

    const { data, response } = await stack
      .client(connection.key)
      .chat.completions.create({
        model: 'gpt-4o-mini',
        user: 'alice',
        messages: [{ role: 'user', content: 'What is Usage Panda?' }],
      })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('A gateway for LLM APIs.');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.flags.map((f) => f.type)).toContain('policy_autoreply');
  });
});
