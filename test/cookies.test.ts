// Cookies stay on their side of the gateway: the client's (the dashboard session among
// them) never reach upstream, and upstream's never reach the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

/** A real dashboard session cookie of this gateway, as a signed-in browser sends it. */
async function sessionCookie(): Promise<string> {
  const response = await fetch(`${stack.gateway.url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: stack.adminToken }),
  });
  expect(response.status).toBe(200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return setCookie.slice(0, setCookie.indexOf(';'));
}

const UPSTREAM_COOKIE = JSON.stringify({
  'set-cookie': '__cf_bm=upstream-cookie; path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None',
});

describe('cookies', () => {
  it('does not forward the client’s Cookie header, dashboard session included, upstream', async () => {
    const { key } = await stack.createConnection({ policy: { autoModerate: true } });
    const cookie = `${await sessionCookie()}; theme=dark`;
    const { response } = await stack.client(key).chat.completions.create(chat, { headers: { cookie } }).withResponse();
    expect(response.status).toBe(200);
    const id = response.headers.get('x-usagepanda-request-id');
    // The moderation call made for the policy and the forwarded request itself.
    const seen = stack.mock.requests.slice(-2);
    expect(seen.map((request) => request.path)).toEqual(['/v1/moderations', '/v1/chat/completions']);
    for (const request of seen) {
      expect(Object.keys(request.headers).map((name) => name.toLowerCase())).not.toContain('cookie');
    }
    expect((await stack.record(id)).status).toBe(200);
  });

  it('does not pass upstream’s Set-Cookie on to the client, for JSON and streamed answers', async () => {
    const { key } = await stack.createConnection();
    const headers = { 'x-mock-answer-headers': UPSTREAM_COOKIE };
    const json = await stack.client(key).chat.completions.create(chat, { headers }).withResponse();
    expect(json.data.choices[0]?.message.content).toBe('Echo: hi');
    expect(json.response.headers.get('set-cookie')).toBeNull();

    const streamed = await stack
      .client(key)
      .chat.completions.create({ ...chat, stream: true }, { headers })
      .withResponse();
    let text = '';
    for await (const chunk of streamed.data) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Echo: hi');
    expect(streamed.response.headers.get('set-cookie')).toBeNull();
    expect((await stack.record(streamed.response.headers.get('x-usagepanda-request-id'))).status).toBe(200);
  });

  it('relays the mock’s Set-Cookie knob at all: without the gateway the client would get it', async () => {
    const direct = await fetch(`${stack.mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-answer-headers': UPSTREAM_COOKIE },
      body: JSON.stringify(chat),
    });
    expect(direct.headers.get('set-cookie')).toMatch(/^__cf_bm=upstream-cookie;/);
  });
});
