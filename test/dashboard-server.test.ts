// What the gateway does for the dashboard without a browser: the session cookie and its
// CSRF rule on the admin API, the static files at / and /assets/*, and /api/alerts.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessions } from '../src/admin/session.js';
import { DEFAULT_DASHBOARD_DIR } from '../src/dashboard.js';
import { loadSecret } from '../src/secrets/cipher.js';
import { logRecord } from './fixtures.js';
import { apiError, readJson, type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const UNAUTHORIZED = {
  error: { message: 'Usage Panda: invalid or missing admin token', type: 'access_denied', param: null, code: null },
};
const CSRF_REFUSED = {
  error: {
    message: 'Usage Panda: missing or invalid x-usagepanda-csrf header (required for dashboard writes)',
    type: 'access_denied',
    param: null,
    code: null,
  },
};

async function signIn(token = stack.adminToken) {
  const response = await fetch(`${stack.gateway.url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { response, setCookie, cookie: setCookie.split(';')[0] ?? '', body: await readJson(response) };
}

const withCookie = (cookie: string, method = 'GET', extra: Record<string, string> = {}, body?: unknown) =>
  fetch(`${stack.gateway.url}/api/connections`, {
    method,
    headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('dashboard session', () => {
  it('refuses a wrong admin token with 401 and a body without token with 400', async () => {
    const wrong = await signIn('wrong-token-wrong-token');
    expect(wrong.response.status).toBe(401);
    expect(wrong.body).toEqual(UNAUTHORIZED);
    expect(wrong.setCookie).toBe('');

    const empty = await fetch(`${stack.gateway.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(empty.status).toBe(400);
    expect((await readJson(empty)).error.message).toMatch(/^Usage Panda: token: /);
  });

  it('signs in with the admin token: an HttpOnly, SameSite=Strict session cookie and a CSRF token', async () => {
    const { response, setCookie, body } = await signIn();
    expect(response.status).toBe(200);
    expect(setCookie).toMatch(/^up_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(body).toEqual({ authenticated: true, csrfToken: expect.any(String) });
    // The admin token itself never goes into the cookie.
    expect(setCookie).not.toContain(stack.adminToken);
  });

  it('reads with the cookie alone, but writes only with the CSRF token of that session', async () => {
    const { cookie, body } = await signIn();
    const other = await signIn();

    expect((await withCookie(cookie)).status).toBe(200);
    const noToken = await withCookie(cookie, 'POST', {}, { name: 'csrf-test' });
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toEqual(CSRF_REFUSED);
    const othersToken = await withCookie(cookie, 'POST', { 'x-usagepanda-csrf': other.body.csrfToken }, { name: 'x' });
    expect(othersToken.status).toBe(403);

    const created = await withCookie(cookie, 'POST', { 'x-usagepanda-csrf': body.csrfToken }, { name: 'csrf-test' });
    expect(created.status).toBe(201);
    const { id } = await readJson(created);
    const deleted = await fetch(`${stack.gateway.url}/api/connections/${id}`, {
      method: 'DELETE',
      headers: { cookie, 'x-usagepanda-csrf': body.csrfToken },
    });
    expect(deleted.status).toBe(204);
  });

  it('refuses tampered and expired session cookies with 401', async () => {
    const { cookie } = await signIn();
    const tampered = `${cookie.slice(0, -2)}${cookie.endsWith('AA') ? 'BB' : 'AA'}`;
    const refused = await withCookie(tampered);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual(UNAUTHORIZED);

    // A session issued 13 hours ago, signed with this gateway's real key, has expired.
    const sessions = createSessions(
      stack.gateway.adminToken,
      await loadSecret(undefined, stack.dataDir),
      stack.gateway.store,
    );
    const old = sessions.issue(Date.now() - 13 * 3600_000);
    expect((await withCookie(`up_session=${old.cookie}`)).status).toBe(401);
    const fresh = sessions.issue();
    expect((await withCookie(`up_session=${fresh.cookie}`)).status).toBe(200);
  });

  it('tells the dashboard whether it is signed in, and signs out by clearing the cookie', async () => {
    const { cookie, body } = await signIn();
    const check = await fetch(`${stack.gateway.url}/api/session`, { headers: { cookie } });
    expect(await check.json()).toEqual({ authenticated: true, csrfToken: body.csrfToken });
    const anonymous = await fetch(`${stack.gateway.url}/api/session`);
    expect(anonymous.status).toBe(401);

    const out = await fetch(`${stack.gateway.url}/api/session`, { method: 'DELETE', headers: { cookie } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toBe('up_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  it('still takes the bearer admin token, and a wrong bearer is refused even with a valid cookie', async () => {
    const { cookie } = await signIn();
    expect((await stack.admin('GET', '/api/connections')).status).toBe(200);
    const wrongBearer = await fetch(`${stack.gateway.url}/api/connections`, {
      headers: { cookie, authorization: 'Bearer wrong-token-wrong-token' },
    });
    expect(wrongBearer.status).toBe(401);
  });
});

describe('dashboard files', () => {
  it('serves the app at / with no-cache and a strict content security policy', async () => {
    const response = await fetch(`${stack.gateway.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(await response.text()).toContain('<div id="root"></div>');
  });

  it('serves hashed assets with long-lived caching and the right content types', async () => {
    const names = await readdir(join(DEFAULT_DASHBOARD_DIR, 'assets'));
    for (const [ext, type] of [
      ['.js', 'text/javascript; charset=utf-8'],
      ['.css', 'text/css; charset=utf-8'],
    ] as const) {
      const name = names.find((n) => n.endsWith(ext));
      if (!name) throw new Error(`no ${ext} asset in dist/web/assets`);
      const response = await fetch(`${stack.gateway.url}/assets/${name}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(type);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  });

  it('answers 404 in OpenAI shape for missing assets and paths that try to leave assets/', async () => {
    for (const path of ['/assets/missing.js', '/assets/..%2F..%2Fpackage.json', '/assets/.%2Findex.html']) {
      const response = await fetch(`${stack.gateway.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toEqual({
        error: { message: 'Usage Panda: asset not found', type: 'not_found', param: null, code: null },
      });
    }
  });

  it('leaves /v1, un-prefixed API paths, /healthz and /metrics to the gateway', async () => {
    const { key } = await stack.createConnection();
    const models = await stack.client(key).models.list();
    expect(models.data.length).toBeGreaterThan(0);
    const unprefixed = await fetch(`${stack.gateway.url}/models`, {
      headers: { 'x-usagepanda-api-key': key, authorization: 'Bearer sk-test-unprefixed' },
    });
    expect(unprefixed.status).toBe(200);
    expect((await fetch(`${stack.gateway.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.gateway.url}/metrics`)).headers.get('content-type')).toContain('text/plain');
  });
});

describe('GET /api/alerts', () => {
  it('reports requests blocked by Enforce User IDs, per connection, from the log', async () => {
    const { id, key } = await stack.createConnection({ name: 'alerts-test', policy: { enforceUserIds: true } });
    const client = stack.client(key);
    for (let i = 0; i < 2; i += 1) {
      const error = await apiError(
        client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      );
      expect(error.status).toBe(422);
    }
    await stack.gateway.logWriter.drain();

    const { status, json } = await stack.admin('GET', `/api/alerts?connection=${id}`);
    expect(status).toBe(200);
    expect(json.data).toEqual([
      {
        kind: 'blocked_requests',
        title: '2 requests blocked: policy_enforce_user_ids',
        detail: 'Config set to block requests without user field (connection alerts-test)',
        count: 2,
        firstSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        lastSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        connectionId: id,
      },
    ]);
    // A range before the requests holds nothing.
    const before = await stack.admin('GET', `/api/alerts?connection=${id}&from=0&to=1000`);
    expect(before.json.data).toEqual([]);
  });

  it('finds upstream error bursts and unpriced models among many ordinary records, each record counted once', async () => {
    const base = Date.now() - 60_000;
    const ordinary = Array.from({ length: 2_000 }, (_, i) => logRecord({ ts: base + i, connectionId: 'conn_alerts' }));
    const errors = [0, 1, 2].map((i) =>
      logRecord({ ts: base + 10 * i, connectionId: 'conn_alerts', status: 502, error: 'bad gateway' }),
    );
    const unpriced = logRecord({ ts: base + 5, connectionId: 'conn_alerts', model: 'mystery-model', costUsd: null });
    // Unpriced and failed: in both reads, still one upstream error of the burst.
    const both = logRecord({ ts: base + 40, connectionId: 'conn_alerts', status: 503, costUsd: null, error: 'down' });
    await stack.gateway.store.insertLogs([...ordinary, ...errors, unpriced, both]);

    const { json } = await stack.admin('GET', `/api/alerts?connection=conn_alerts&from=${base}&to=${base + 60_000}`);
    expect(json.data.map((a: { kind: string; count: number }) => [a.kind, a.count]).sort()).toEqual([
      ['unknown_price', 1],
      ['upstream_errors', 4],
    ]);
  });

  it('answers 400 naming the parameter for bad input', async () => {
    const bad = await stack.admin('GET', '/api/alerts?from=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/^Usage Panda: from: /);
    const unknown = await stack.admin('GET', '/api/alerts?colour=red');
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.type).toBe('invalid_request');
  });
});
