// Signing out of the dashboard ends the session on the server, not only in the browser,
// and the session cookie is Secure when the dashboard is served over HTTPS.
import { afterEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function signIn(running: Stack, headers: Record<string, string> = {}) {
  const response = await fetch(`${running.gateway.url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ token: running.adminToken }),
  });
  expect(response.status).toBe(200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { setCookie, cookie: setCookie.split(';')[0] ?? '' };
}

const withCookie = (running: Stack, cookie: string) =>
  fetch(`${running.gateway.url}/api/connections`, { headers: { cookie } });

describe('dashboard sessions', () => {
  it('refuses the cookie of a signed-out session, also after a restart', async () => {
    stack = await startStack();
    const { cookie } = await signIn(stack);
    const other = await signIn(stack);
    expect((await withCookie(stack, cookie)).status).toBe(200);

    const out = await fetch(`${stack.gateway.url}/api/session`, { method: 'DELETE', headers: { cookie } });
    expect(out.status).toBe(204);
    const replayed = await withCookie(stack, cookie);
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toEqual({
      error: { message: 'Usage Panda: invalid or missing admin token', type: 'access_denied', param: null, code: null },
    });
    expect((await fetch(`${stack.gateway.url}/api/session`, { headers: { cookie } })).status).toBe(401);
    // Another session (another browser) stays signed in.
    expect((await withCookie(stack, other.cookie)).status).toBe(200);

    const previous = stack;
    await previous.stop();
    stack = await startStack({}, { restartOf: previous });
    expect((await withCookie(stack, cookie)).status).toBe(401);
    expect((await withCookie(stack, other.cookie)).status).toBe(200);
  });

  it('sets Secure on the cookie behind a trusted proxy that says the dashboard is served over HTTPS', async () => {
    stack = await startStack({ trustProxy: true });
    const https = await signIn(stack, { 'x-forwarded-proto': 'https' });
    expect(https.setCookie).toMatch(/^up_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
    const http = await signIn(stack);
    expect(http.setCookie).not.toContain('Secure');
  });

  it('ignores X-Forwarded-Proto from a proxy the operator did not mark as trusted', async () => {
    stack = await startStack();
    const { setCookie } = await signIn(stack, { 'x-forwarded-proto': 'https' });
    expect(setCookie).not.toContain('Secure');
  });
});
