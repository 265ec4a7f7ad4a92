// Limits and budgets in one gateway process (in-process state): a budget that concurrent
// requests cannot overshoot, request and token limits per user and per IP over a clock the
// test moves, OpenAI's x-ratelimit-* headers, and /api/budgets.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

/** Only output is priced, so a request's worst case is exactly what the mock answer costs. */
const PRICES_YAML = ['prices:', '  - model: race-model', '    inputPerMTok: 0', '    outputPerMTok: 10'].join('\n');
/** 100 output tokens at $10 per million. */
const COST_PER_REQUEST = 0.001;
const MAX_TOKENS = 100;
const HUNDRED_WORDS = Array.from({ length: MAX_TOKENS }, () => 'word').join(' ');

let stack: Stack;
let clock = Date.UTC(2026, 10, 29, 12, 0, 0);
beforeAll(async () => {
  stack = await startStack({}, { configYaml: PRICES_YAML, now: () => clock });
});
afterAll(() => stack?.close());

const chat = (user?: string, maxTokens = MAX_TOKENS) => ({
  model: 'race-model',
  messages: [{ role: 'user' as const, content: 'hi' }],
  max_tokens: maxTokens,
  ...(user ? { user } : {}),
});

describe('a budget under concurrent requests (one process)', () => {
  it('lets exactly the requests it fits through, refuses the rest with 429 insufficient_quota, and records no more than the budget', async () => {
    const n = 5;
    const budget = n * COST_PER_REQUEST;
    const { id, key } = await stack.createConnection({
      policy: { budgets: [{ per: 'connection', window: 'day', usd: budget }] },
    });
    // The mock answers exactly max_tokens words, i.e. max_tokens output tokens.
    const client = stack.client(key, { headers: { 'x-mock-reply': HUNDRED_WORDS } });
    const results = await Promise.allSettled(
      Array.from({ length: 10 * n }, () => client.chat.completions.create(chat()).withResponse()),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(succeeded).toHaveLength(n);
    expect(refused).toHaveLength(9 * n);
    for (const error of refused) {
      expect(error.status).toBe(429);
      expect(error.error).toEqual({
        message: 'Usage Panda: budget exceeded: $0.005 per day per connection',
        type: 'insufficient_quota',
        param: null,
        code: null,
      });
    }

    await stack.gateway.logWriter.drain();
    const records = await stack.admin('GET', `/api/logs?connection=${id}&limit=100`);
    const spent = records.json.data.reduce((sum: number, r: { costUsd: number | null }) => sum + (r.costUsd ?? 0), 0);
    expect(records.json.data).toHaveLength(10 * n);
    console.log(
      `race, 1 process: sent ${10 * n}, succeeded ${succeeded.length}, refused ${refused.length}, budget $${budget}, recorded spend $${spent}`,
    );
    expect(spent).toBeCloseTo(budget, 12);
    expect(spent).toBeLessThanOrEqual(budget + 1e-12);
    const flagged = records.json.data.filter((r: { flags: { type: string }[] }) =>
      r.flags.some((f) => f.type === 'policy_budget'),
    );
    expect(flagged).toHaveLength(9 * n);
    expect(flagged[0]).toMatchObject({ status: 429, costUsd: 0 });

    const status = await stack.admin('GET', `/api/budgets?connection=${id}`);
    expect(status.json.data).toEqual([
      {
        kind: 'budget',
        unit: 'usd',
        per: 'connection',
        subject: null,
        window: 'day',
        windowStart: '2026-11-29T00:00:00.000Z',
        windowEnd: '2026-11-30T00:00:00.000Z',
        limit: budget,
        used: budget,
        reserved: 0,
        remaining: 0,
        description: '$0.005 per day per connection',
      },
    ]);
  });

  it('counts in /metrics a request that used more than it reserved (an upstream that ignored the output cap)', async () => {
    const { id, key } = await stack.createConnection({
      policy: { budgets: [{ per: 'connection', window: 'total', usd: 1 }] },
    });
    const overruns = async () => {
      const text = await (await fetch(`${stack.gateway.url}/metrics`)).text();
      return Number(/usage_panda_spend_overruns_total\{unit="usd"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await overruns();
    // max_tokens 10 reserved, 100 words answered.
    await stack
      .client(key, { headers: { 'x-mock-reply': HUNDRED_WORDS } })
      .chat.completions.create(chat(undefined, 10));
    await vi.waitFor(async () => expect(await overruns()).toBe(before + 1));
    const status = await stack.admin('GET', `/api/budgets?connection=${id}`);
    expect(status.json.data[0]).toMatchObject({ used: COST_PER_REQUEST, reserved: 0, remaining: 1 - COST_PER_REQUEST });
  });

  it('refuses a request under a budget whose model has no price, saying what to do', async () => {
    const { key } = await stack.createConnection({ policy: { budgets: [{ per: 'user', window: 'total', usd: 1 }] } });
    const error = await apiError(stack.client(key).chat.completions.create({ ...chat(), model: 'no-such-model' }));
    expect(error.status).toBe(422);
    expect(error.message).toBe(
      '422 Usage Panda: Config set to a budget; model no-such-model has no known price (add it to the prices table)',
    );
  });
});

describe('request and token limits', () => {
  it('counts requests per end user in a minute window, with Retry-After and OpenAI headers, and starts over in the next minute', async () => {
    clock = Date.UTC(2026, 10, 29, 12, 0, 15);
    const { key } = await stack.createConnection({
      policy: { limits: [{ per: 'user', window: 'minute', requests: 2 }] },
    });
    const client = stack.client(key);
    const first = await client.chat.completions.create(chat('alice')).withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.response.headers.get('x-ratelimit-reset-requests')).toBe('45s');
    await client.chat.completions.create(chat('alice'));

    const refused = await apiError(client.chat.completions.create(chat('alice')));
    expect(refused.status).toBe(429);
    expect(refused.error).toEqual({
      message: 'Usage Panda: rate limit exceeded: 2 requests per minute per user',
      type: 'rate_limit_exceeded',
      param: null,
      code: null,
    });
    expect(refused.headers?.get('retry-after')).toBe('45');
    expect(refused.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    const record = await stack.record(refused.headers?.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      status: 429,
      endUser: 'alice',
      error: 'Usage Panda: rate limit exceeded: 2 requests per minute per user',
      flags: [{ type: 'policy_rate_limit', description: 'Rate limit exceeded: 2 requests per minute per user' }],
    });

    // Another user, and requests without one (counted together as "(none)"), have their own counts.
    await client.chat.completions.create(chat('bob'));
    await client.chat.completions.create(chat());
    await client.chat.completions.create(chat());
    expect((await apiError(client.chat.completions.create(chat()))).status).toBe(429);

    clock = Date.UTC(2026, 10, 29, 12, 1, 0);
    const next = await client.chat.completions.create(chat('alice')).withResponse();
    expect(next.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
  });

  it('reserves prompt plus max_tokens against a token limit per IP, and counts what was used once answered', async () => {
    clock = Date.UTC(2026, 10, 29, 13, 0, 0);
    const { id, key } = await stack.createConnection({
      policy: { limits: [{ per: 'ip', window: 'hour', tokens: 40 }] },
    });
    const client = stack.client(key);
    // "hi" is 7 prompt tokens with chat framing; 30 more reserved for the answer: 37 of 40.
    // The mock's answer ("Echo: hi") uses 3 tokens in all, so the next 37 fit again, once.
    const first = await client.chat.completions.create(chat(undefined, 30)).withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe('40');
    expect(first.response.headers.get('x-ratelimit-remaining-tokens')).toBe('3');
    expect(first.response.headers.get('x-ratelimit-reset-tokens')).toBe('1h0m0s');
    await client.chat.completions.create(chat(undefined, 30));
    const refused = await apiError(client.chat.completions.create(chat(undefined, 30)));
    expect(refused.status).toBe(429);
    expect(refused.message).toBe('429 Usage Panda: rate limit exceeded: 40 tokens per hour per ip');
    expect(refused.headers?.get('retry-after')).toBe('3600');

    const status = await stack.admin('GET', `/api/budgets?connection=${id}`);
    expect(status.json.data).toEqual([]); // per-ip limits are per address, not listed per connection
  });

  it('takes limits and budgets only in their documented shape', async () => {
    const bad = await stack.admin('POST', '/api/connections', {
      name: 'bad-limits',
      policy: { limits: [{ per: 'team', window: 'minute', requests: 1 }] },
    });
    expect(bad.status).toBe(400);
    const noAmount = await stack.admin('POST', '/api/connections', {
      name: 'bad-limits',
      policy: { limits: [{ per: 'user', window: 'minute' }] },
    });
    expect(noAmount.status).toBe(400);
    expect(noAmount.json.error.message).toBe('Usage Panda: policy.limits.0: give requests, tokens or both');
    const badZone = await stack.admin('POST', '/api/connections', {
      name: 'bad-zone',
      policy: { timezone: 'Mars/Base' },
    });
    expect(badZone.json.error.message).toBe(
      'Usage Panda: policy.timezone: expected an IANA time zone such as Europe/Berlin',
    );
  });
});
