// The Responses API on providers that speak only chat: the official `openai` SDK's
// `responses.create` and `responses.stream` through the gateway to Anthropic and Gemini
// targets, tools both ways, and the fields such a target cannot keep refused with a 400.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderKey, lastRequest, type Stack, startStack } from './harness.js';

let stack: Stack;
let anthropicKey: string;
let geminiKey: string;
beforeAll(async () => {
  stack = await startStack();
  const origin = new URL(stack.mock.url).origin;
  ({ key: anthropicKey } = await stack.createConnection({
    upstream: { provider: 'anthropic', baseUrl: origin, apiKey: `sk-ant-${fakeProviderKey()}` },
  }));
  ({ key: geminiKey } = await stack.createConnection({
    upstream: { provider: 'gemini', baseUrl: origin, apiKey: fakeProviderKey() },
  }));
});
afterAll(() => stack?.close());

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
const CLAUDE = 'claude-sonnet-4-5';

describe('POST /v1/responses to a chat-only provider', () => {
  it('answers a Responses request from an Anthropic target, recorded with its provider, user and tokens', async () => {
    const { data, response } = await client(anthropicKey)
      .responses.create({ model: CLAUDE, instructions: 'Be brief.', input: 'hello bridge', user: 'u-bridge' })
      .withResponse();
    expect(data.object).toBe('response');
    expect(data.status).toBe('completed');
    expect(data.output_text).toBe('Echo: hello bridge');
    expect(data.usage).toMatchObject({ input_tokens: 4, output_tokens: 3, total_tokens: 7 });
    const sent = lastRequest(stack.mock, '/v1/messages');
    expect(sent.json).toMatchObject({
      model: CLAUDE,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hello bridge' }] }],
      metadata: { user_id: 'u-bridge' },
    });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      endpoint: '/responses',
      operation: 'response',
      provider: 'anthropic',
      model: CLAUDE,
      status: 200,
      endUser: 'u-bridge',
      promptTokens: 4,
      completionTokens: 3,
    });
    expect(record.costUsd).toBeGreaterThan(0);
  });

  it('streams Responses events from a Gemini target, read whole by the SDK', async () => {
    const stream = client(geminiKey).responses.stream({ model: 'gemini-2.5-flash', input: 'stream the bridge' });
    const types = new Set<string>();
    for await (const event of stream) types.add(event.type);
    const final = await stream.finalResponse();
    expect(final.output_text).toBe('Echo: stream the bridge');
    expect([...types]).toEqual(
      expect.arrayContaining(['response.created', 'response.output_text.delta', 'response.completed']),
    );
    await stack.gateway.logWriter.drain();
    const page = await stack.admin('GET', '/api/logs?limit=1');
    expect(page.json.data[0]).toMatchObject({ provider: 'gemini', stream: true, promptTokens: 3 });
  });

  it('calls a function tool on an Anthropic target and reads its output back', async () => {
    const tools = [
      {
        type: 'function' as const,
        name: 'lookup',
        description: 'Looks a word up',
        parameters: { type: 'object', properties: { echo: { type: 'string' } } },
        strict: false,
      },
    ];
    const first = await client(anthropicKey).responses.create({
      model: CLAUDE,
      input: 'find panda',
      tools,
      tool_choice: { type: 'function', name: 'lookup' },
    });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'lookup', arguments: '{"echo":"find panda"}' });
    const second = await client(anthropicKey).responses.create({
      model: CLAUDE,
      tools,
      input: [
        { role: 'user', content: 'find panda' },
        ...(call ? [call] : []),
        { type: 'function_call_output', call_id: call?.type === 'function_call' ? call.call_id : '', output: 'a bear' },
      ],
    });
    expect(second.output_text).toBe('Echo: tool result: a bear');
  });

  it('refuses previous_response_id with 400 naming the field, calling nothing', async () => {
    stack.mock.reset();
    const err = await client(anthropicKey)
      .responses.create({ model: CLAUDE, input: 'again', previous_response_id: 'resp_1' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toContain(
      'Usage Panda: previous_response_id: this target keeps no stored responses',
    );
    expect(stack.mock.requests).toHaveLength(0);
  });
});
