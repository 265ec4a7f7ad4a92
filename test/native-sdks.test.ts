// The providers' own SDKs with the features agents lean on, straight to the simulator and through the
// gateway's native routes: @anthropic-ai/sdk streaming with extended thinking and a cache breakpoint,
// @google/genai with thinkingConfig, countTokens and embedContent — answers, what reached upstream, and
// one record per call with provider, model, end user, tokens and cost.
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.js';
import { anthropicPrompt, expectedCost, recordsOf } from './agent-records.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';

const CLAUDE = 'claude-haiku-4-5';
const GEMINI = 'gemini-2.5-flash';
const EMBEDDING = 'gemini-embedding-001';
/** Nine words, cached at its breakpoint. */
const SYSTEM = 'You are a panda expert who answers very briefly.';

/**
 * Two streamed turns with extended thinking and the system prompt behind a cache breakpoint: the first
 * writes the cache, the second (its thinking block passed back with its signature) reads it.
 */
async function anthropicTurns(client: Anthropic) {
  const base = {
    model: CLAUDE,
    max_tokens: 4096,
    thinking: { type: 'enabled' as const, budget_tokens: 2048 },
    system: [{ type: 'text' as const, text: SYSTEM, cache_control: { type: 'ephemeral' as const } }],
    metadata: { user_id: 'sdk-user-1' },
  };
  const question = { role: 'user' as const, content: 'what do pandas eat' };
  const first = await client.messages.stream({ ...base, messages: [question] }).finalMessage();
  const second = await client.messages
    .stream({
      ...base,
      messages: [question, { role: 'assistant', content: first.content }, { role: 'user', content: 'and why' }],
    })
    .finalMessage();
  return [first, second];
}

function expectAnthropicTurns([first, second]: Anthropic.Message[]) {
  expect(first?.content).toEqual([
    { type: 'thinking', thinking: 'Thinking about: what do pandas eat', signature: expect.any(String) },
    { type: 'text', text: 'Echo: what do pandas eat' },
  ]);
  expect(first?.usage).toMatchObject({
    input_tokens: 4,
    cache_creation_input_tokens: 9,
    cache_read_input_tokens: 0,
    output_tokens: 11,
  });
  expect(second?.content.at(-1)).toEqual({ type: 'text', text: 'Echo: and why' });
  // Turn two: the cached system prompt is read; the first answer's text is input again (its thinking is not).
  expect(second?.usage).toMatchObject({ input_tokens: 11, cache_creation_input_tokens: 0, cache_read_input_tokens: 9 });
}

/** What the Messages API received: the SDK's thinking, breakpoint and the signed thinking block passed back. */
function expectAnthropicSent(mock: MockUpstream, signature: string | undefined) {
  const sent = mock.requests.filter((r) => r.path === '/v1/messages').map((r) => r.json as Record<string, unknown>);
  expect(sent).toHaveLength(2);
  for (const body of sent) {
    expect(body).toMatchObject({
      stream: true,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }],
      metadata: { user_id: 'sdk-user-1' },
    });
  }
  expect(sent[1]?.messages).toMatchObject([
    {},
    { role: 'assistant', content: [{ type: 'thinking', signature }, { type: 'text' }] },
    { role: 'user', content: 'and why' },
  ]);
}

/** generateContent with thinking, countTokens and embedContent, in that order. */
async function geminiCalls(client: GoogleGenAI) {
  const answer = await client.models.generateContent({
    model: GEMINI,
    contents: 'why are pandas black and white',
    config: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
  });
  const counted = await client.models.countTokens({ model: GEMINI, contents: 'three words here' });
  const embedded = await client.models.embedContent({ model: EMBEDDING, contents: 'bamboo forest' });
  return { answer, counted, embedded };
}

function expectGeminiCalls({ answer, counted, embedded }: Awaited<ReturnType<typeof geminiCalls>>) {
  expect(answer.text).toBe('Echo: why are pandas black and white');
  expect(answer.candidates?.[0]?.content?.parts).toEqual([
    { text: 'Thinking about: why are pandas black and white', thought: true },
    { text: 'Echo: why are pandas black and white' },
  ]);
  expect(answer.usageMetadata).toEqual({
    promptTokenCount: 6,
    candidatesTokenCount: 7,
    thoughtsTokenCount: 8,
    totalTokenCount: 21,
  });
  expect(counted.totalTokens).toBe(3);
  expect(embedded.embeddings).toHaveLength(1);
  expect(embedded.embeddings?.[0]?.values).toHaveLength(8);
}

/** The Gemini paths the SDK called, in order. */
const geminiPaths = (mock: MockUpstream) =>
  mock.requests.filter((r) => r.path.startsWith('/v1beta/')).map((r) => r.path.replace(/^\/v1beta\/models\//, ''));

describe('the native SDKs straight to the simulator', () => {
  let mock: MockUpstream;
  let origin: string;
  beforeAll(async () => {
    mock = await startMockUpstream({ port: 0 });
    origin = new URL(mock.url).origin;
  });
  afterAll(() => mock.close());

  it('streams Anthropic thinking with a signature, and writes then reads the cache at the breakpoint', async () => {
    const turns = await anthropicTurns(new Anthropic({ apiKey: `sk-ant-${fakeProviderKey()}`, baseURL: origin }));
    expectAnthropicTurns(turns);
    const thinking = turns[0]?.content[0];
    expectAnthropicSent(mock, thinking?.type === 'thinking' ? thinking.signature : undefined);
  });

  it('counts Anthropic tokens and lists Anthropic models with the SDK’s own calls', async () => {
    const client = new Anthropic({ apiKey: `sk-ant-${fakeProviderKey()}`, baseURL: origin });
    const counted = await client.messages.countTokens({
      model: CLAUDE,
      system: SYSTEM,
      messages: [{ role: 'user', content: 'what do pandas eat' }],
    });
    expect(counted).toEqual({ input_tokens: 13 });
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    expect(models).toContain(CLAUDE);
    expect(mock.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models' });
  });

  it('answers Gemini thinking with thought parts and thoughtsTokenCount, countTokens and embedContent', async () => {
    mock.reset();
    const calls = await geminiCalls(new GoogleGenAI({ apiKey: 'AIza-test', httpOptions: { baseUrl: origin } }));
    expectGeminiCalls(calls);
    expect(geminiPaths(mock)).toEqual([
      `${GEMINI}:generateContent`,
      `${GEMINI}:countTokens`,
      `${EMBEDDING}:batchEmbedContents`,
    ]);
    expect(mock.requests[0]?.json).toMatchObject({
      generationConfig: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
    });
  });
});

describe('the native SDKs through the gateway', () => {
  let stack: Stack;
  let origin: string;
  beforeAll(async () => {
    stack = await startStack();
    origin = new URL(stack.mock.url).origin;
  });
  afterAll(() => stack?.close());

  it('relays Anthropic thinking and cache use at /anthropic, one record per call with cache reads and writes priced', async () => {
    const providerKey = `sk-ant-${fakeProviderKey()}`;
    const connection = await stack.createConnection({
      upstream: { provider: 'anthropic', baseUrl: origin },
      providerKey,
    });
    stack.mock.reset();
    const turns = await anthropicTurns(
      new Anthropic({ apiKey: connection.key, baseURL: `${stack.gateway.url}/anthropic`, maxRetries: 0 }),
    );
    expectAnthropicTurns(turns);
    const thinking = turns[0]?.content[0];
    expectAnthropicSent(stack.mock, thinking?.type === 'thinking' ? thinking.signature : undefined);

    const records = await recordsOf(stack, connection.id);
    expect(records).toHaveLength(2);
    for (const [i, turn] of turns.entries()) {
      const usage = turn?.usage;
      if (!usage) throw new Error('no usage');
      expect(records[i]).toMatchObject({
        endpoint: '/anthropic/v1/messages',
        provider: 'anthropic',
        model: CLAUDE,
        stream: true,
        status: 200,
        endUser: 'sdk-user-1',
        promptTokens: anthropicPrompt(usage),
        completionTokens: usage.output_tokens,
        cachedTokens: usage.cache_read_input_tokens,
        usageEstimated: false,
      });
      const cost = expectedCost('anthropic', CLAUDE, {
        input: anthropicPrompt(usage),
        output: usage.output_tokens,
        cacheRead: usage.cache_read_input_tokens ?? 0,
        cacheWrite: usage.cache_creation_input_tokens ?? 0,
      });
      expect(records[i]?.costUsd).toBeCloseTo(cost, 12);
    }
  });

  describe('@google/genai at /gemini', () => {
    let connection: { id: string; key: string };
    let client: GoogleGenAI;
    beforeAll(async () => {
      connection = await stack.createConnection({
        upstream: { provider: 'gemini', baseUrl: origin },
        providerKey: `AIza${fakeProviderKey()}`,
      });
      client = new GoogleGenAI({
        apiKey: connection.key,
        httpOptions: { baseUrl: `${stack.gateway.url}/gemini`, headers: { 'x-usagepanda-user': 'gem-user-1' } },
      });
    });
    /** The one record the call made on the connection: none other was added. */
    async function onlyNewRecord(before: number) {
      const records = await recordsOf(stack, connection.id);
      expect(records).toHaveLength(before + 1);
      return records.at(-1);
    }
    const recordCount = async () => (await recordsOf(stack, connection.id)).length;

    it('relays generateContent with thinkingConfig, thoughts recorded as reasoning and billed as output', async () => {
      const before = await recordCount();
      const answer = await client.models.generateContent({
        model: GEMINI,
        contents: 'why are pandas black and white',
        config: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
      });
      expect(answer.text).toBe('Echo: why are pandas black and white');
      expect(answer.usageMetadata).toEqual({
        promptTokenCount: 6,
        candidatesTokenCount: 7,
        thoughtsTokenCount: 8,
        totalTokenCount: 21,
      });
      expect(stack.mock.requests.at(-1)?.json).toMatchObject({
        generationConfig: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
      });
      const record = await onlyNewRecord(before);
      expect(record).toMatchObject({
        endpoint: `/gemini/v1beta/models/${GEMINI}:generateContent`,
        operation: 'chat',
        provider: 'gemini',
        model: GEMINI,
        status: 200,
        endUser: 'gem-user-1',
        promptTokens: 6,
        completionTokens: 15,
        reasoningTokens: 8,
        usageEstimated: false,
      });
      expect(record?.costUsd).toBeCloseTo(expectedCost('google', GEMINI, { input: 6, output: 15 }), 12);
    });

    it('relays countTokens, recorded at no cost (Google does not bill counting)', async () => {
      const before = await recordCount();
      const counted = await client.models.countTokens({ model: GEMINI, contents: 'three words here' });
      expect(counted.totalTokens).toBe(3);
      expect(stack.mock.requests.at(-1)?.path).toBe(`/v1beta/models/${GEMINI}:countTokens`);
      expect(await onlyNewRecord(before)).toMatchObject({
        endpoint: `/gemini/v1beta/models/${GEMINI}:countTokens`,
        provider: 'gemini',
        model: GEMINI,
        status: 200,
        endUser: 'gem-user-1',
        costUsd: 0,
      });
    });

    it('relays embedContent (the SDK calls batchEmbedContents), recorded as an embedding and priced', async () => {
      const before = await recordCount();
      const embedded = await client.models.embedContent({ model: EMBEDDING, contents: 'bamboo forest' });
      expect(embedded.embeddings?.[0]?.values).toHaveLength(8);
      expect(stack.mock.requests.at(-1)?.path).toBe(`/v1beta/models/${EMBEDDING}:batchEmbedContents`);
      const record = await onlyNewRecord(before);
      expect(record).toMatchObject({
        endpoint: `/gemini/v1beta/models/${EMBEDDING}:batchEmbedContents`,
        operation: 'embedding',
        provider: 'gemini',
        model: EMBEDDING,
        status: 200,
        endUser: 'gem-user-1',
      });
      expect(record?.promptTokens).toBeGreaterThan(0);
      expect(record?.costUsd).toBeCloseTo(
        expectedCost('google', EMBEDDING, { input: record?.promptTokens ?? 0, output: 0 }),
        12,
      );
    });
  });
});
