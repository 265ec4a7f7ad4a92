// Requests refused for their credentials are counted per IP and minute, not logged one by
// one, and failed admin authentications are limited per IP.
import { afterEach, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function metric(running: Stack, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`${running.gateway.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

function proxyCall(running: Stack, headers: Record<string, string>): Promise<Response> {
  return fetch(`${running.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(chat),
  });
}

function adminCall(running: Stack, token: string): Promise<Response> {
  return fetch(`${running.gateway.url}/api/connections`, { headers: { authorization: `Bearer ${token}` } });
}

describe('refused requests', () => {
  it('counts requests with a wrong or missing key per IP and minute, in /metrics and /api/refusals, and logs none of them', async () => {
    stack = await startStack();
    for (let i = 0; i < 5; i++) {
      const wrong = await proxyCall(stack, { 'x-usagepanda-api-key': `up-${'x'.repeat(48)}` });
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toEqual({
        error: { message: 'Usage Panda: invalid or missing API key', type: 'access_denied', param: null, code: null },
      });
    }
    for (let i = 0; i < 2; i++) expect((await proxyCall(stack, {})).status).toBe(401);

    await stack.gateway.logWriter.drain();
    expect((await stack.gateway.store.queryLogs({}, { limit: 10 })).records).toEqual([]);
    expect(await metric(stack, 'usage_panda_refused_requests_total{source="proxy",status="401"}')).toBe(7);
    const refusals = await stack.admin('GET', '/api/refusals');
    expect(refusals.status).toBe(200);
    // One row, or two should the requests straddle a minute.
    const rows: { minute: number; timestamp: string; count: number }[] = refusals.json.data;
    for (const row of rows) {
      expect(row).toEqual({
        minute: expect.any(Number),
        timestamp: new Date(row.minute).toISOString(),
        ip: '127.0.0.1',
        source: 'proxy',
        status: 401,
        count: expect.any(Number),
      });
      expect(row.minute % 60_000).toBe(0);
    }
    expect(rows.reduce((sum, row) => sum + row.count, 0)).toBe(7);
  });

  it('still logs a request refused for a disabled key: its connection is known', async () => {
    stack = await startStack();
    const { id, key } = await stack.createConnection({ name: 'off' });
    await stack.admin('PATCH', `/api/connections/${id}`, { enabled: false });
    const refused = await proxyCall(stack, { 'x-usagepanda-api-key': key });
    expect(refused.status).toBe(403);
    const record = await stack.record(refused.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      status: 403,
      connectionName: 'off',
      error: 'Usage Panda: this API key is disabled',
    });
    expect((await stack.admin('GET', '/api/refusals')).json.data).toEqual([]);
  });

  it('answers 429 with Retry-After after too many failed admin authentications from one IP, the right token and sign-in too', async () => {
    stack = await startStack({ adminAuthMaxFailures: 3, adminAuthWindowMs: 120_000 });
    for (let i = 0; i < 3; i++) expect((await adminCall(stack, `wrong-token-${i}-padding`)).status).toBe(401);

    const limited = [
      await adminCall(stack, 'wrong-token-3-padding'),
      await adminCall(stack, stack.adminToken),
      await fetch(`${stack.gateway.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: stack.adminToken }),
      }),
    ];
    for (const response of limited) {
      expect(response.status).toBe(429);
      const retryAfter = Number(response.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(120);
      expect(await response.json()).toEqual({
        error: {
          message: 'Usage Panda: too many failed admin authentications from this address; try again later',
          type: 'rate_limit_exceeded',
          param: null,
          code: null,
        },
      });
    }
    expect(await metric(stack, 'usage_panda_refused_requests_total{source="admin",status="401"}')).toBe(3);
    expect(await metric(stack, 'usage_panda_refused_requests_total{source="admin",status="429"}')).toBe(3);
  });

  it('counts failed dashboard sign-ins towards the limit', async () => {
    stack = await startStack({ adminAuthMaxFailures: 2 });
    const signIn = (token: string) =>
      fetch(`${stack?.gateway.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
    expect((await signIn('wrong-token-padding-1')).status).toBe(401);
    expect((await signIn('wrong-token-padding-2')).status).toBe(401);
    expect((await signIn(stack.adminToken)).status).toBe(429);
    expect((await adminCall(stack, stack.adminToken)).status).toBe(429);
  });
});
