// The dashboard in a real browser against a real gateway and the mock upstream: sign in,
// create a connection and turn on Enforce User IDs in its settings dialog, send a request
// without `user` through the openai SDK, see it arrive live in Logs with its flag and
// tooltip, open its details, filter by user, manage keys, sign out; screenshots of every
// page at 1280 px (and 390 px) go to test-results/.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, openPage, screenshot, signIn } from './browser.js';
import { apiError, type Stack, startStack } from './harness.js';

const MISSING_USER_TOOLTIP = 'Missing user ID: this request was blocked because it did not contain a user field.';

let stack: Stack;
let browser: Browser;
let page: Page;
/** The connection the test creates through the dashboard. */
const created = { id: '', key: '', name: 'browser-test' };

beforeAll(async () => {
  stack = await startStack();
  browser = await openBrowser();
  page = browser.page;
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('dashboard in the browser', () => {
  it('refuses a wrong admin token and signs in with the right one (HttpOnly, SameSite=Strict cookie)', async () => {
    await page.goto(`${stack.gateway.url}/`);
    await screenshot(page, 'sign-in-1280');
    await page.getByLabel('Admin token').fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('That admin token is not valid.');

    await signIn(page, stack);
    const cookies = await browser.context.cookies(stack.gateway.url);
    const session = cookies.find((c) => c.name === 'up_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // The cookie is invisible to scripts on the page.
    expect(await page.evaluate<string>('document.cookie')).not.toContain('up_session');
  });

  it('creates a connection and shows its key once with copy buttons and snippets', async () => {
    await openPage(page, stack, 'connections', 'Connections');
    await page.getByLabel('New connection name').fill(created.name);
    await page.getByRole('button', { name: 'Create connection' }).click();

    const dialog = page.getByRole('dialog', { name: 'Connection created' });
    const key = (await dialog.getByTestId('new-key').textContent())?.trim() ?? '';
    expect(key).toMatch(/^up-[A-Za-z0-9]{48}$/);
    await expect.poll(() => dialog.getByRole('button', { name: 'Copy key' }).count()).toBe(1);
    for (const [tab, expected] of [
      ['Python', 'default_headers={"x-usagepanda-api-key"'],
      ['JavaScript', "defaultHeaders: { 'x-usagepanda-api-key'"],
      ['curl', '-H "x-usagepanda-api-key:'],
      ['LangChain', 'from langchain_openai import ChatOpenAI'],
    ] as const) {
      await dialog.getByRole('tab', { name: tab }).click();
      const snippet = (await dialog.getByRole('tabpanel').textContent()) ?? '';
      expect(snippet).toContain(key);
      expect(snippet).toContain(`${stack.gateway.url}/v1`);
      expect(snippet).toContain(expected);
      expect(await dialog.getByRole('button', { name: `Copy ${tab} snippet` }).count()).toBe(1);
    }
    await screenshot(page, 'connection-created-1280');
    await dialog.getByRole('button', { name: 'I have saved the key' }).click();
    await dialog.waitFor({ state: 'detached' });

    const list = await stack.admin('GET', '/api/connections');
    const stored = list.json.data.find((c: { name: string }) => c.name === created.name);
    expect(stored).toMatchObject({ keyPrefix: key.slice(0, 7), enabled: true, policy: { enforceUserIds: false } });
    Object.assign(created, { id: stored.id, key });
    // Shown once: the list shows only the prefix.
    expect(await page.locator('table').textContent()).not.toContain(key);
    expect(await page.getByRole('row', { name: new RegExp(created.name) }).textContent()).toContain(key.slice(0, 7));
  });

  it('validates settings as the API does and turns on Enforce User IDs in the settings dialog', async () => {
    await page.getByRole('button', { name: `Settings: ${created.name}` }).click();
    const dialog = page.getByRole('dialog', { name: `Settings: ${created.name}` });
    // One control per policy setting.
    for (const label of [
      'Enforce User IDs',
      'Allow header overrides',
      'Max tokens',
      'Max prompt characters',
      'Blocked models',
      'Allowed models',
      'Auto-moderation',
      'Request wordlists: profanity',
      'Response wordlists: dan',
      'Custom wordlist',
      'Prompt reflection',
      'Retry count',
      'Total upstream timeout (ms)',
      'Log request bodies',
      'Log response bodies',
      'Passthrough paths',
    ]) {
      expect(await dialog.getByLabel(label, { exact: true }).count(), label).toBe(1);
    }

    await dialog.getByLabel('Retry count').fill('9');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => dialog.getByText('Retry count: must be 0 to 5').count()).toBe(1);
    await dialog.getByLabel('Retry count').fill('0');

    await dialog.getByLabel('Enforce User IDs').check();
    await dialog.getByLabel('Passthrough paths').fill('/v1/assistants\n/vector_stores/');
    await screenshot(page, 'connection-settings-1280');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    const stored = await stack.admin('GET', `/api/connections/${created.id}`);
    expect(stored.json.policy).toMatchObject({
      enforceUserIds: true,
      allowHeaderOverrides: true,
      passthroughPaths: ['/assistants', '/vector_stores'],
    });
  });

  it('shows a request without user, sent through the openai SDK, live in Logs with the flag and its tooltip', async () => {
    await openPage(page, stack, 'logs', 'Logs');
    await page.getByText('No requests match these filters.').waitFor();

    const client = stack.client(created.key);
    const blocked = await apiError(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
    );
    expect(blocked.status).toBe(422);
    expect(blocked.message).toContain('Usage Panda: Config set to block requests without user field');
    const allowed = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      user: 'alice',
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(allowed.choices[0]?.message.content).toBeTruthy();

    // No reload: the page picks the records up by itself.
    const table = page.getByRole('table', { name: 'Request log' });
    await table.waitFor();
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: 15_000 }).toBe(2);
    const blockedRow = table.locator('tbody tr', { has: page.locator('[data-flag="policy_enforce_user_ids"]') });
    expect(await blockedRow.count()).toBe(1);
    expect(await blockedRow.textContent()).toContain('422');
    expect(await blockedRow.textContent()).toContain(created.name);

    const icon = blockedRow.getByRole('img', { name: 'Missing user ID' });
    const tooltip = blockedRow.getByRole('tooltip');
    expect(await tooltip.isVisible()).toBe(false);
    await icon.hover();
    await tooltip.waitFor({ state: 'visible' });
    expect(await tooltip.textContent()).toBe(MISSING_USER_TOOLTIP);
    await screenshot(page, 'logs-1280');
  });

  it('opens the details of the blocked request with every field and the flag explained', async () => {
    await stack.gateway.logWriter.drain();
    const [record] = (await stack.gateway.store.queryLogs({ flagType: 'policy_enforce_user_ids' }, { limit: 1 }))
      .records;
    if (!record) throw new Error('the blocked request was not recorded');
    await page.getByRole('link', { name: `Details of ${record.id}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Request details' });
    await dialog.getByText(record.id).waitFor();
    const text = (await dialog.textContent()) ?? '';
    for (const expected of [
      'POST /chat/completions',
      '422',
      'Usage Panda: Config set to block requests without user field',
      MISSING_USER_TOOLTIP,
      'policy_enforce_user_ids',
      'gpt-4o-mini',
      'OpenAI ID',
      'User agent',
      'Not logged',
    ]) {
      expect(text).toContain(expected);
    }
    await screenshot(page, 'log-details-1280');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  it('filters the logs by user and shows the metadata columns on demand', async () => {
    await page.getByLabel('User', { exact: true }).fill('alice');
    await page.getByLabel('User', { exact: true }).press('Enter');
    expect(page.url()).toContain('user=alice');
    const table = page.getByRole('table', { name: 'Request log' });
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await table.locator('tbody tr').textContent()).toContain('alice');
    expect(await table.locator('[data-flag]').count()).toBe(0);

    // The checkbox follows the page's URL, which the click changes: it flips a moment later.
    const showMeta = page.getByLabel(/Show metadata/);
    await showMeta.click();
    await expect.poll(() => showMeta.isChecked()).toBe(true);
    await expect
      .poll(() => table.locator('thead th').allTextContents())
      .toEqual(expect.arrayContaining(['OpenAI ID', 'Organization', 'Trace ID', 'IP address', 'User agent']));
    expect(await table.locator('tbody tr').textContent()).toContain('req_mock_');

    await page.getByLabel('User', { exact: true }).fill('nobody');
    await page.getByLabel('User', { exact: true }).press('Enter');
    await page.getByText('No requests match these filters.').waitFor();
  });

  it('lists the blocked requests on the Alerts page', async () => {
    await openPage(page, stack, 'alerts', 'Alerts');
    await page.getByText('1 request blocked: policy_enforce_user_ids').waitFor();
    expect(await page.locator('.alerts').textContent()).toContain(created.name);
  });

  it('disables, rotates and deletes a connection, each write confirmed where it cannot be undone', async () => {
    await openPage(page, stack, 'connections', 'Connections');
    // The switch follows the server: it flips once the write is confirmed, not on the click.
    const toggle = page.getByRole('switch', { name: `Enabled: ${created.name}` });
    const enabledOnServer = async () => (await stack.admin('GET', `/api/connections/${created.id}`)).json.enabled;
    await toggle.click();
    await expect.poll(enabledOnServer).toBe(false);
    await expect.poll(() => toggle.isChecked()).toBe(false);
    const disabled = await apiError(stack.client(created.key).models.list());
    expect(disabled.status).toBe(403);
    await toggle.click();
    await expect.poll(enabledOnServer).toBe(true);
    await expect.poll(() => toggle.isChecked()).toBe(true);

    await page.getByRole('button', { name: `Rotate key: ${created.name}` }).click();
    await page.getByRole('button', { name: 'Rotate key', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Key rotated' });
    const rotated = (await dialog.getByTestId('new-key').textContent())?.trim() ?? '';
    expect(rotated).toMatch(/^up-[A-Za-z0-9]{48}$/);
    expect(rotated).not.toBe(created.key);
    expect((await apiError(stack.client(created.key).models.list())).status).toBe(401);
    expect((await stack.client(rotated).models.list()).data.length).toBeGreaterThan(0);
    await dialog.getByRole('button', { name: 'I have saved the key' }).click();

    await page.getByRole('button', { name: `Delete: ${created.name}` }).click();
    const confirm = page.getByRole('dialog', { name: `Delete ${created.name}?` });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect((await stack.admin('GET', `/api/connections/${created.id}`)).status).toBe(200);
    await page.getByRole('button', { name: `Delete: ${created.name}` }).click();
    await confirm.getByRole('button', { name: 'Delete connection' }).click();
    await page.getByText('No connections yet.').waitFor();
    expect((await stack.admin('GET', `/api/connections/${created.id}`)).status).toBe(404);
  });

  it('renders every page at 1280 px and 390 px without the page itself scrolling sideways', async () => {
    const pages = [
      ['dashboard', 'Dashboard'],
      ['connections', 'Connections'],
      ['logs', 'Logs'],
      ['users', 'End-User Tracking'],
      ['autoreplies', 'Auto-Replies'],
      ['alerts', 'Alerts'],
    ] as const;
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      for (const [route, heading] of pages) {
        await openPage(page, stack, route, heading);
        // Let queries settle: either content or a clear state, never a spinner in the picture.
        await expect.poll(() => page.locator('[aria-busy="true"]').count()).toBe(0);
        await screenshot(page, `${route}-${width}`);
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
        expect(overflow, `${route} at ${width} px`).toBeLessThanOrEqual(0);
      }
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('signs out: the cookie is cleared and the admin API refuses the browser', async () => {
    await openPage(page, stack, 'dashboard', 'Dashboard');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    const cookies = await browser.context.cookies(stack.gateway.url);
    expect(cookies.find((c) => c.name === 'up_session')).toBeUndefined();
    const status = await page.evaluate(async () => (await fetch('/api/connections')).status);
    expect(status).toBe(401);
  });
});
