// The batched form of /api/budgets: where the per-user limits and budgets of many end users
// stand, in one request (End-User Tracking asks for a page of users at once).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './harness.js';

/** Only output is priced: 100 output tokens at $10 per million cost $0.001. */
const PRICES_YAML = ['prices:', '  - model: race-model', '    inputPerMTok: 0', '    outputPerMTok: 10'].join('\n');
const HUNDRED_WORDS = Array.from({ length: 100 }, () => 'word').join(' ');

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({}, { configYaml: PRICES_YAML, now: () => Date.UTC(2026, 10, 29, 12, 0, 15) });
});
afterAll(() => stack?.close());

describe('GET /api/budgets with users', () => {
  it("lists each end user's per-user limits and budgets, and leaves connection-wide ones to the single form", async () => {
    const { id, key } = await stack.createConnection({
      policy: {
        limits: [{ per: 'user', window: 'minute', requests: 5 }],
        budgets: [
          { per: 'user', window: 'total', usd: 1 },
          { per: 'connection', window: 'total', usd: 10 },
        ],
      },
    });
    await stack.client(key, { headers: { 'x-mock-reply': HUNDRED_WORDS } }).chat.completions.create({
      model: 'race-model',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 100,
      user: 'alice',
    });

    const { status, json } = await stack.admin('GET', `/api/budgets?connection=${id}&users=alice&users=bob`);
    expect(status).toBe(200);
    const brief = json.data.map((s: Record<string, unknown>) => ({
      subject: s.subject,
      per: s.per,
      unit: s.unit,
      used: s.used,
      reserved: s.reserved,
      limit: s.limit,
    }));
    expect(brief).toEqual([
      { subject: 'alice', per: 'user', unit: 'requests', used: 1, reserved: 0, limit: 5 },
      { subject: 'alice', per: 'user', unit: 'usd', used: 0.001, reserved: 0, limit: 1 },
      { subject: 'bob', per: 'user', unit: 'requests', used: 0, reserved: 0, limit: 5 },
      { subject: 'bob', per: 'user', unit: 'usd', used: 0, reserved: 0, limit: 1 },
    ]);
    expect(json.data[0]).toMatchObject({
      kind: 'limit',
      window: 'minute',
      windowStart: '2026-11-29T12:00:00.000Z',
      windowEnd: '2026-11-29T12:01:00.000Z',
      remaining: 4,
      description: '5 requests per minute per user',
    });

    const one = await stack.admin('GET', `/api/budgets?connection=${id}&users=bob`);
    expect(one.json.data.map((s: { subject: string }) => s.subject)).toEqual(['bob', 'bob']);
  });

  it('answers an empty list for a connection without per-user limits or budgets', async () => {
    const { id } = await stack.createConnection({
      policy: { budgets: [{ per: 'connection', window: 'total', usd: 10 }] },
    });
    const { status, json } = await stack.admin('GET', `/api/budgets?connection=${id}&users=alice`);
    expect(status).toBe(200);
    expect(json).toEqual({ data: [] });
  });

  it('refuses more than 100 users at once, and user with users, with 400 in the admin error shape', async () => {
    const { id } = await stack.createConnection({ policy: { budgets: [{ per: 'user', window: 'total', usd: 1 }] } });
    const many = Array.from({ length: 101 }, (_, i) => `users=u${i}`).join('&');
    const tooMany = await stack.admin('GET', `/api/budgets?connection=${id}&${many}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json).toEqual({
      error: {
        message: 'Usage Panda: users: at most 100 end users at once',
        type: 'invalid_request',
        param: null,
        code: null,
      },
    });
    const hundred = Array.from({ length: 100 }, (_, i) => `users=u${i}`).join('&');
    const fits = await stack.admin('GET', `/api/budgets?connection=${id}&${hundred}`);
    expect(fits.status).toBe(200);
    expect(fits.json.data).toHaveLength(100);

    const both = await stack.admin('GET', `/api/budgets?connection=${id}&user=alice&users=bob`);
    expect(both.status).toBe(400);
    expect(both.json.error.message).toBe('Usage Panda: give user or users, not both');
  });
});
