// Edges in a real browser: a token made on the Edges page (shown once), an edge started with
// it, and the request it served shown in Logs with the edge's name.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { type EdgeGateway, startEdge } from '../src/edge-gateway.js';
import { type Browser, openBrowser, openPage, screenshot, signIn } from './browser.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';

let stack: Stack;
let browser: Browser;
let page: Page;
let edge: EdgeGateway | undefined;
let edgeDir = '';
beforeAll(async () => {
  stack = await startStack();
  browser = await openBrowser();
  page = browser.page;
  edgeDir = await mkdtemp(join(tmpdir(), 'usage-panda-edge-'));
});
afterAll(async () => {
  await edge?.close();
  await browser?.close();
  await stack?.close();
  await rm(edgeDir, { recursive: true, force: true });
});

describe('Edges page', () => {
  it('creates an edge token shown once, and Logs shows which edge served a request', async () => {
    const { key } = await stack.createConnection({ name: 'edge-served', providerKey: fakeProviderKey() });
    await signIn(page, stack);
    await openPage(page, stack, 'edges', 'Edges');
    await page.getByRole('button', { name: 'Add edge' }).click();
    const form = page.getByRole('dialog', { name: 'Add edge' });
    await form.getByLabel('Name').fill('edge-eu-west');
    await form.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('dialog', { name: 'Edge token created' });
    const token = (await shown.getByTestId('new-edge-token').textContent()) ?? '';
    expect(token).toMatch(/^upe-[A-Za-z0-9]{48}$/);
    await screenshot(page, 'edge-token-1280');
    await shown.getByRole('button', { name: 'I have saved the token' }).click();
    const table = page.getByRole('table', { name: 'Edges' });
    await table.getByRole('cell', { name: 'edge-eu-west' }).waitFor();
    expect(await table.textContent()).not.toContain(token);

    const config = await loadConfig(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir: edgeDir,
        upstream: stack.mock.url,
        controlPlane: stack.gateway.url,
        edgeToken: token,
        logLevel: 'silent',
      },
      {},
    );
    edge = await startEdge(config);
    const client = new OpenAI({ apiKey: key, baseURL: `${edge.url}/v1`, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'from the edge' }] })
      .withResponse();
    const id = response.headers.get('x-usagepanda-request-id') ?? '';
    await expect.poll(() => stack.gateway.store.findLog(id), { timeout: 15_000 }).toBeTruthy();

    await openPage(page, stack, 'logs', 'Logs');
    const log = page.getByRole('table', { name: 'Request log' });
    await log.getByRole('columnheader', { name: 'Edge' }).waitFor();
    const row = log.locator('tbody tr', { has: page.getByRole('link', { name: `Details of ${id}` }) });
    await row.getByRole('cell', { name: 'edge-eu-west' }).waitFor();
    await page.getByRole('link', { name: `Details of ${id}` }).click();
    const details = page.getByRole('dialog', { name: 'Request details' });
    await details.getByText(id).waitFor();
    expect(await details.textContent()).toContain('edge edge-eu-west');
    await screenshot(page, 'edge-logs-1280');

    await openPage(page, stack, 'edges', 'Edges');
    const edgeRow = page.getByRole('table', { name: 'Edges' }).locator('tbody tr', { hasText: 'edge-eu-west' });
    expect(await edgeRow.getByRole('cell').nth(4).textContent()).not.toBe('—');
  });
});
