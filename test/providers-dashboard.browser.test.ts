// Providers in the dashboard, in a real browser against a gateway with the in-process mock
// upstream: the connection settings edit the routing targets (an Anthropic target with a key
// that is never shown again but kept across later saves, reordering, the API's validation
// error in the dialog), and the Dashboard's provider breakdown after requests answered by
// OpenAI and Anthropic through those targets.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, openPage, screenshot, signIn } from './browser.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';

// Provider keys made at run time: never a real one.
const BROWSER_KEY = fakeProviderKey();

const CLAUDE = 'claude-3-5-haiku-20241022';

let stack: Stack;
let browser: Browser;
let page: Page;
let connection: { id: string; key: string };

beforeAll(async () => {
  // Providers without a baseUrl go to the in-process mock, which speaks each provider's format.
  stack = await startStack({ mockUpstream: true });
  connection = await stack.createConnection({ name: 'routed' });
  browser = await openBrowser();
  page = browser.page;
  await signIn(page, stack);
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** The stored connection's targets, their sealed secrets opened. */
async function storedKeys() {
  const stored = await stack.gateway.store.findConnectionById(connection.id);
  return (stored?.targets ?? []).map((t) =>
    t.apiKeyEncrypted === undefined ? null : stack.gateway.connections.open(t.apiKeyEncrypted),
  );
}

const openSettings = async () => {
  await openPage(page, stack, 'connections', 'Connections');
  await page.getByRole('button', { name: 'Settings: routed' }).click();
  return page.getByRole('dialog', { name: 'Settings: routed' });
};

describe('targets in the connection settings', () => {
  it('adds an Anthropic target with a key; reopened, the key is not shown but kept', async () => {
    let dialog = await openSettings();
    expect(await dialog.getByText("Upstream (without targets): the gateway's default").count()).toBe(1);
    await dialog.getByRole('button', { name: 'Add target' }).click();
    // Each provider shows its own fields: Azure its API version and deployments, Bedrock AWS credentials.
    await dialog.getByLabel('Target 1: provider').selectOption('azure');
    expect(await dialog.getByLabel('Target 1: API version').count()).toBe(1);
    expect(await dialog.getByRole('button', { name: 'Add deployments entry' }).count()).toBe(1);
    await dialog.getByLabel('Target 1: provider').selectOption('bedrock');
    for (const label of ['Region', 'Access key ID', 'Secret access key']) {
      expect(await dialog.getByLabel(`Target 1: ${label}`).count(), label).toBe(1);
    }
    expect(await dialog.getByLabel('Target 1: API key').count()).toBe(0);
    await dialog.getByLabel('Target 1: provider').selectOption('anthropic');
    // Anthropic shows a key, not Azure's or Bedrock's fields.
    expect(await dialog.getByLabel('Target 1: API version').count()).toBe(0);
    expect(await dialog.getByLabel('Target 1: Region').count()).toBe(0);
    await dialog.getByLabel('Target 1: API key').fill(BROWSER_KEY);
    await dialog.getByLabel('Target 1: Models').fill('claude-*');
    await dialog.getByRole('button', { name: 'Add model map entry' }).click();
    await dialog.getByLabel('Model map 1: request model').fill('claude-latest');
    await dialog.getByLabel('Model map 1: provider model').fill(CLAUDE);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    const read = await stack.admin('GET', `/api/connections/${connection.id}`);
    expect(read.json.targets).toEqual([
      { provider: 'anthropic', models: ['claude-*'], modelMap: { 'claude-latest': CLAUDE }, hasApiKey: true },
    ]);
    expect(JSON.stringify(read.json)).not.toContain(BROWSER_KEY);
    expect(await storedKeys()).toEqual([BROWSER_KEY]);

    dialog = await openSettings();
    const keyField = dialog.getByLabel('Target 1: API key');
    expect(await keyField.inputValue()).toBe('');
    expect(await keyField.getAttribute('placeholder')).toBe('stored — empty keeps it');
    expect(await dialog.getByLabel('Target 1: provider').inputValue()).toBe('anthropic');
    expect(await dialog.getByLabel('Target 1: Models').inputValue()).toBe('claude-*');
    expect(await page.content()).not.toContain(BROWSER_KEY);
  });

  it('shows the API’s validation error in the dialog, then saves an OpenAI target moved first, keeping the key', async () => {
    const dialog = await openSettings();
    await dialog.getByRole('button', { name: 'Add target' }).click();
    await dialog.getByLabel('Target 2: Base URL').fill('not a url');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => dialog.getByRole('alert').textContent())
      .toBe('Usage Panda: Target 2 baseUrl: expected an http(s) URL such as https://api.openai.com/v1');

    await dialog.getByLabel('Target 2: Base URL').fill('');
    await dialog.getByLabel('Target 2: Models').fill('gpt-*');
    await dialog.getByLabel('Target 2: Weight').fill('2');
    await dialog.getByRole('button', { name: 'Target 2: move up' }).click();
    expect(await dialog.getByLabel('Target 1: Models').inputValue()).toBe('gpt-*');
    expect(await dialog.getByLabel('Target 2: provider').inputValue()).toBe('anthropic');
    await screenshot(page, 'connection-targets-1280');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    const read = await stack.admin('GET', `/api/connections/${connection.id}`);
    expect(read.json.targets).toEqual([
      { provider: 'openai', weight: 2, models: ['gpt-*'], hasApiKey: false },
      { provider: 'anthropic', models: ['claude-*'], modelMap: { 'claude-latest': CLAUDE }, hasApiKey: true },
    ]);
    expect(await storedKeys()).toEqual([null, BROWSER_KEY]);
  });
});

describe('provider breakdown on the Dashboard', () => {
  it('shows requests, tokens and cost per provider after requests answered by OpenAI and Anthropic', async () => {
    const client = stack.client(connection.key);
    const ask = async (model: string) => {
      const { response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: `hello ${model}` }] })
        .withResponse();
      return stack.record(response.headers.get('x-usagepanda-request-id'));
    };
    const records = [await ask('gpt-4o-mini'), await ask('gpt-4o-mini'), await ask(CLAUDE)];
    expect(records.map((r) => [r.provider, r.status])).toEqual([
      ['openai', 200],
      ['openai', 200],
      ['anthropic', 200],
    ]);
    // The Anthropic request went with the key saved in the dialog.
    const anthropic = stack.gateway.mockUpstream?.requests.findLast((r) => r.path === '/v1/messages');
    expect(anthropic?.headers['x-api-key']).toBe(BROWSER_KEY);

    const api = await stack.admin('GET', '/api/stats/providers');
    expect(api.json.data.map((p: { provider: string; requests: number }) => [p.provider, p.requests])).toEqual([
      ['openai', 2],
      ['anthropic', 1],
    ]);

    await openPage(page, stack, 'dashboard', 'Dashboard');
    const table = page.getByRole('table', { name: 'Requests per provider' });
    await table.waitFor();
    const rows = table.getByRole('row');
    await expect.poll(() => rows.count()).toBe(3); // header + two providers
    const cells = async (i: number) => (await rows.nth(i).getByRole('cell').allTextContents()).map((t) => t.trim());
    const openai = api.json.data[0];
    const claude = api.json.data[1];
    const [openaiRow, claudeRow] = [await cells(1), await cells(2)];
    expect(openaiRow.slice(0, 4)).toEqual(['openai', '66.7%', '2', String(openai.totalTokens)]);
    expect(claudeRow.slice(0, 4)).toEqual(['anthropic', '33.3%', '1', String(claude.totalTokens)]);
    // Each priced as its own provider's model: the cost the API sums, as the dashboard writes money.
    expect(claude.costUsd).toBeGreaterThan(0);
    for (const [row, stats] of [
      [openaiRow, openai],
      [claudeRow, claude],
    ]) {
      const shown = Number(row[4]?.replace('$', ''));
      expect(Math.abs(shown - stats.costUsd)).toBeLessThanOrEqual(stats.costUsd * 0.01);
    }
    await page.getByRole('heading', { name: 'Providers' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'dashboard-providers-1280');
  });
});

describe('forgetting a stored key', () => {
  it('saves the target without its key after Forget', async () => {
    const dialog = await openSettings();
    await dialog.getByRole('button', { name: 'Target 2: forget the stored api key' }).click();
    expect(await dialog.getByLabel('Target 2: API key').getAttribute('placeholder')).toBe('not set');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    const read = await stack.admin('GET', `/api/connections/${connection.id}`);
    expect(read.json.targets[1]).toEqual({
      provider: 'anthropic',
      models: ['claude-*'],
      modelMap: { 'claude-latest': CLAUDE },
      hasApiKey: false,
    });
    expect(await storedKeys()).toEqual([null, null]);
  });
});
