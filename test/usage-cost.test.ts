// Tokens and cost on every record, end to end: JSON answers, streams with and without the
// usage option the gateway injects, answers without usage (counted), images, unknown
// models, blocked requests and the config file's price overrides. Expected rates are OpenAI's
// list prices written out here, so a wrong lookup in the price data or the image table fails.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countTokens } from 'gpt-tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

let stack: Stack;
let key: string;
beforeAll(async () => {
  stack = await startStack();
  ({ key } = await stack.createConnection());
});
afterAll(() => stack?.close());

/** OpenAI's list prices, USD per million input and output tokens. */
const RATES: Record<string, { input: number; output: number }> = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-3.5-turbo-instruct': { input: 1.5, output: 2 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
};

function ratesOf(model: string): { input: number; output: number } {
  const rates = RATES[model];
  if (!rates) throw new Error(`no list price for ${model} in this test`);
  return rates;
}

const tokenCost = (model: string, prompt: number, completion: number) => {
  const rate = ratesOf(model);
  return (prompt * rate.input + completion * rate.output) / 1_000_000;
};

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'how much is this' }] };

describe('tokens and cost', () => {
  it('records tokens and the price-data cost of a chat completion', async () => {
    const { data, response } = await stack.client(key).chat.completions.create(chat).withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    const usage = data.usage;
    expect(usage).toBeDefined();
    expect(record).toMatchObject({
      promptTokens: usage?.prompt_tokens,
      completionTokens: usage?.completion_tokens,
      totalTokens: usage?.total_tokens,
      usageEstimated: false,
    });
    expect(record.costUsd).toBeCloseTo(
      tokenCost('gpt-4o-mini', usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0),
      12,
    );
    expect(record.costUsd).toBeGreaterThan(0);
  });

  it('prices a legacy completion', async () => {
    const model = 'gpt-3.5-turbo-instruct';
    const { data, response } = await stack
      .client(key)
      .completions.create({ model, prompt: 'say three words' })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.promptTokens).toBe(data.usage?.prompt_tokens);
    expect(record.costUsd).toBeCloseTo(
      tokenCost(model, data.usage?.prompt_tokens ?? 0, data.usage?.completion_tokens ?? 0),
      12,
    );
  });

  it('prices embeddings by input tokens', async () => {
    const model = 'text-embedding-3-small';
    const { data, response } = await stack
      .client(key)
      .embeddings.create({ model, input: ['one two three', 'four five'] })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ operation: 'embedding', promptTokens: 5, completionTokens: null });
    expect(record.costUsd).toBeCloseTo((5 * 0.02) / 1_000_000, 12);
    expect(data.usage.prompt_tokens).toBe(5);
  });

  it('prices images by model, size, quality and count (per-image table; the price data has token rates only)', async () => {
    const { response } = await stack
      .client(key)
      .images.generate({ model: 'dall-e-3', prompt: 'a panda', size: '1024x1792', quality: 'hd', n: 2 })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.operation).toBe('image');
    // dall-e-3, hd, 1024x1792: $0.12 an image.
    expect(record.costUsd).toBeCloseTo(2 * 0.12, 12);

    const { response: second } = await stack
      .client(key)
      .images.generate({ prompt: 'a panda', size: '256x256' })
      .withResponse();
    const defaulted = await stack.record(second.headers.get('x-usagepanda-request-id'));
    // dall-e-2 (the default model), 256x256: $0.016.
    expect(defaulted.costUsd).toBe(0.016);
  });

  it('records reasoning and cached token counts from a Responses answer', async () => {
    const { data, response } = await stack
      .client(key)
      .responses.create({ model: 'gpt-4o', input: 'cached question' })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      operation: 'response',
      promptTokens: data.usage?.input_tokens,
      completionTokens: data.usage?.output_tokens,
      cachedTokens: data.usage?.input_tokens_details.cached_tokens,
      reasoningTokens: data.usage?.output_tokens_details.reasoning_tokens,
    });
    expect(record.costUsd).toBeCloseTo(
      tokenCost('gpt-4o', data.usage?.input_tokens ?? 0, data.usage?.output_tokens ?? 0),
      12,
    );
  });

  it('counts tokens with the tokenizer and marks the record estimated when upstream reports no usage', async () => {
    const { data, response } = await stack
      .client(key, { headers: { 'x-mock-no-usage': 'true' } })
      .chat.completions.create(chat)
      .withResponse();
    expect(data.usage).toBeUndefined();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.usageEstimated).toBe(true);
    // "how much is this" plus chat framing; the answer "Echo: how much is this".
    expect(record.promptTokens).toBeGreaterThan(4);
    expect(record.completionTokens).toBeGreaterThan(4);
    expect(record.totalTokens).toBe((record.promptTokens ?? 0) + (record.completionTokens ?? 0));
    expect(record.costUsd).toBeCloseTo(
      tokenCost('gpt-4o-mini', record.promptTokens ?? 0, record.completionTokens ?? 0),
      12,
    );
  });

  it('records null cost for a model without a known price and counts it in /metrics', async () => {
    const { response } = await stack
      .client(key)
      .chat.completions.create({ ...chat, model: 'acme-private-model' })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.promptTokens).toBeGreaterThan(0);
    expect(record.costUsd).toBeNull();
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/usage_panda_unpriced_requests_total\{operation="chat"\} [1-9]/);
  });

  it('records cost 0 for a request the policy blocked', async () => {
    const blocked = await stack.createConnection({ policy: { enforceUserIds: true } });
    const error = await apiError(stack.client(blocked.key).chat.completions.create(chat));
    expect(error.status).toBe(422);
    const record = await stack.record(error.headers?.get('x-usagepanda-request-id'));
    expect(record.costUsd).toBe(0);
  });
});

describe('streams', () => {
  /** The stream's bytes with the per-request id and timestamp made comparable. */
  const normalized = (text: string) =>
    text.replace(/"id":"chatcmpl-mock\d+"/g, '"id":"ID"').replace(/"created":\d+/g, '"created":0');

  const streamBody = { ...chat, stream: true as const };

  it('gives the client exactly the stream it asked for while recording usage the gateway asked for', async () => {
    const direct = await fetch(`${stack.mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify(streamBody),
    });
    const upstreamBytes = await direct.text();
    expect(upstreamBytes).not.toContain('"usage"');

    const response = await stack.client(key).chat.completions.create(streamBody).asResponse();
    const clientBytes = await response.text();
    expect(normalized(clientBytes)).toBe(normalized(upstreamBytes));

    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ stream: true, status: 200, usageEstimated: false });
    expect(record.promptTokens).toBe(4);
    expect(record.completionTokens).toBe(5);
    expect(record.costUsd).toBeCloseTo(tokenCost('gpt-4o-mini', 4, 5), 12);
  });

  it('passes the usage chunk on when the client asked for it', async () => {
    const body = { ...streamBody, stream_options: { include_usage: true } };
    const direct = await fetch(`${stack.mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify(body),
    });
    const upstreamBytes = await direct.text();
    const response = await stack.client(key).chat.completions.create(body).asResponse();
    const clientBytes = await response.text();
    expect(clientBytes).toContain('"usage":{');
    expect(normalized(clientBytes)).toBe(normalized(upstreamBytes));
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.totalTokens).toBe(9);
  });

  it('prices a streamed chat read with the SDK', async () => {
    const stream = await stack.client(key).chat.completions.create(streamBody).withResponse();
    let text = '';
    for await (const chunk of stream.data) {
      expect(chunk.usage ?? null).toBeNull();
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe('Echo: how much is this');
    const record = await stack.record(stream.response.headers.get('x-usagepanda-request-id'));
    expect(record.costUsd).toBeCloseTo(tokenCost('gpt-4o-mini', 4, 5), 12);
  });

  it('estimates a long stream without usage from a sample of its text, within 10 % of a full count', async () => {
    const response = await stack
      .client(key, { headers: { 'x-mock-no-usage': 'true', 'x-mock-chunks': '20000' } })
      .chat.completions.create({ ...chat, stream: true })
      .asResponse();
    const body = await response.text();
    let text = '';
    for (const event of body.split('\n\n')) {
      if (event.startsWith('data: {')) text += JSON.parse(event.slice(6)).choices[0]?.delta?.content ?? '';
    }
    expect(body.length).toBeGreaterThan(1_000_000); // well past what is held before sampling
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.usageEstimated).toBe(true);
    const full = countTokens(text);
    expect(record.completionTokens).toBeGreaterThan(full * 0.9);
    expect(record.completionTokens).toBeLessThan(full * 1.1);
  });

  it('estimates a stream without usage from the streamed text', async () => {
    const response = await stack
      .client(key, { headers: { 'x-mock-no-usage': 'true' } })
      .completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'count me', stream: true })
      .asResponse();
    await response.text();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.usageEstimated).toBe(true);
    expect(record.promptTokens).toBe(2);
    expect(record.completionTokens).toBeGreaterThan(2);
  });
});

describe('an upstream that refuses stream_options', () => {
  let own: Stack;
  let ownKey: string;
  beforeAll(async () => {
    // A stack of its own: the gateway remembers the refusal for the upstream's base URL.
    own = await startStack();
    ({ key: ownKey } = await own.createConnection());
  });
  afterAll(() => own?.close());

  const refusing = { headers: { 'x-mock-refuse-stream-options': 'true' } };
  const sent = () => own.mock.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.json);

  // First: the next test makes the gateway remember this upstream's refusal.
  it("relays a 400 about the client's own request, and keeps asking an upstream that did not refuse", async () => {
    own.mock.reset();
    const body = { ...chat, model: 'gpt-4o', stream: true as const };
    const failed = await apiError(
      own.client(ownKey, { headers: { 'x-mock-status': '400' } }).chat.completions.create(body),
    );
    expect(failed.status).toBe(400);
    const record = await own.record(failed.headers?.get('x-usagepanda-request-id'));
    expect(record.attempts.map((a) => a.status)).toEqual([400, 400]);

    own.mock.reset();
    const ok = await own.client(ownKey).chat.completions.create(body).asResponse();
    await ok.text();
    expect(sent()).toEqual([{ ...body, stream_options: { include_usage: true } }]);
    expect((await own.record(ok.headers.get('x-usagepanda-request-id'))).usageEstimated).toBe(false);
  });

  it('asks again exactly as the client did, counts the answer, and stops asking that upstream', async () => {
    own.mock.reset();
    const body = { ...chat, stream: true as const };
    const first = await own.client(ownKey, refusing).chat.completions.create(body).asResponse();
    expect(first.status).toBe(200);
    expect(await first.text()).toMatch(/"content":"this".*\n\ndata: \[DONE\]/s);
    const record = await own.record(first.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, usageEstimated: true, promptTokens: expect.any(Number) });
    expect(record.attempts.map((a) => a.status)).toEqual([400, 200]);
    expect(record.completionTokens).toBeGreaterThan(0);
    expect(sent()).toEqual([
      { ...body, stream_options: { include_usage: true } },
      body, // the client's own request, without what the gateway added
    ]);

    own.mock.reset();
    const second = await own.client(ownKey, refusing).chat.completions.create(body).asResponse();
    await second.text();
    const again = await own.record(second.headers.get('x-usagepanda-request-id'));
    expect(again.attempts.map((a) => a.status)).toEqual([200]);
    expect(sent()).toEqual([body]);
  });

  it('sends a 400 straight back when the client asked for stream_options itself', async () => {
    const body = { ...chat, stream: true as const, stream_options: { include_usage: true } };
    const refused = await apiError(own.client(ownKey, refusing).chat.completions.create(body));
    expect(refused).toMatchObject({ status: 400, message: expect.stringContaining('stream_options') });
    const record = await own.record(refused.headers?.get('x-usagepanda-request-id'));
    expect(record.attempts.map((a) => a.status)).toEqual([400]);
  });
});

describe('price overrides from the config file', () => {
  let overridden: Stack;
  beforeAll(async () => {
    const file = join(stack.dataDir, 'prices.yaml');
    await writeFile(
      file,
      [
        'prices:',
        '  - model: acme-private-*',
        '    inputPerMTok: 3',
        '    outputPerMTok: 7',
        '  - model: gpt-4o-mini',
        '    inputPerMTok: 1',
        '    outputPerMTok: 1',
        '',
      ].join('\n'),
    );
    overridden = await startStack({ configFile: file });
  });
  afterAll(() => overridden?.close());

  it('prices private models and replaces the price data for listed ones', async () => {
    const { key: k } = await overridden.createConnection();
    const { data, response } = await overridden
      .client(k)
      .chat.completions.create({ ...chat, model: 'acme-private-7b' })
      .withResponse();
    const record = await overridden.record(response.headers.get('x-usagepanda-request-id'));
    const u = data.usage;
    expect(record.costUsd).toBeCloseTo(((u?.prompt_tokens ?? 0) * 3 + (u?.completion_tokens ?? 0) * 7) / 1e6, 12);

    const second = await overridden.client(k).chat.completions.create(chat).withResponse();
    const mini = await overridden.record(second.response.headers.get('x-usagepanda-request-id'));
    expect(mini.costUsd).toBeCloseTo((mini.totalTokens ?? 0) / 1e6, 12);
  });
});
