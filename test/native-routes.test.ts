// The native routes: @anthropic-ai/sdk at /anthropic and @google/genai at /gemini, each
// with its baseURL at the gateway. Read as chat completions, so every policy, record and
// price applies, whichever provider the connection's target is; answered in the SDK's API.
import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI, Type } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProviderKey, lastRequest, readJson, type Stack, startStack } from './harness.js';

let stack: Stack;
let origin: string;
beforeAll(async () => {
  stack = await startStack();
  origin = new URL(stack.mock.url).origin;
});
afterAll(() => stack?.close());

const CLAUDE = 'claude-3-5-haiku-20241022';
const GEMINI = 'gemini-2.0-flash';

/** @anthropic-ai/sdk at the gateway; it sends `apiKey` as the bearer token (older versions: x-api-key). */
function anthropic(apiKey: string, headers: Record<string, string> = {}) {
  return new Anthropic({ apiKey, baseURL: `${stack.gateway.url}/anthropic`, maxRetries: 0, defaultHeaders: headers });
}

/** @google/genai at the gateway; `apiKey` goes in x-goog-api-key, as the SDK sends it. */
function gemini(apiKey: string, headers: Record<string, string> = {}) {
  return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: `${stack.gateway.url}/gemini`, headers } });
}

async function anthropicError(call: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof Anthropic.APIError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

async function geminiError(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** The newest record, after the log queue is drained (the Gemini SDK shows no response headers). */
async function newestRecord() {
  await stack.gateway.logWriter.drain();
  const page = await stack.admin('GET', '/api/logs?limit=1');
  return stack.record(page.json.data[0]?.id);
}

describe('@anthropic-ai/sdk at /anthropic/v1/messages', () => {
  let openaiKey: string;
  let anthropicKey: string;
  beforeAll(async () => {
    ({ key: openaiKey } = await stack.createConnection({ providerKey: fakeProviderKey() }));
    ({ key: anthropicKey } = await stack.createConnection({ upstream: { provider: 'anthropic', baseUrl: origin } }));
  });

  it('answers a Messages request from an OpenAI upstream, recorded under its path and priced', async () => {
    const { data, response } = await anthropic(openaiKey)
      .messages.create({
        model: 'gpt-4o-mini',
        max_tokens: 50,
        system: 'Be brief.',
        metadata: { user_id: 'u-native-1' },
        messages: [{ role: 'user', content: 'hello native' }],
      })
      .withResponse();
    expect(data.type).toBe('message');
    expect(data.role).toBe('assistant');
    expect(data.content).toEqual([{ type: 'text', text: 'Echo: hello native' }]);
    expect(data.stop_reason).toBe('end_turn');
    expect(data.usage).toMatchObject({ input_tokens: 4, output_tokens: 3 });
    const sent = lastRequest(stack.mock, '/v1/chat/completions');
    expect(sent.json).toEqual({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello native' },
      ],
      max_tokens: 50,
      user: 'u-native-1',
    });
    expect(sent.headers['x-api-key']).toBeUndefined();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      endpoint: '/anthropic/v1/messages',
      operation: 'chat',
      provider: 'openai',
      model: 'gpt-4o-mini',
      status: 200,
      endUser: 'u-native-1',
      promptTokens: 4,
      completionTokens: 3,
    });
    expect(record.costUsd).toBeGreaterThan(0);
  });

  it('sends the Anthropic key in x-api-key (older SDKs, curl) to an Anthropic target, never to another', async () => {
    const providerKey = `sk-ant-${fakeProviderKey()}`;
    const response = await fetch(`${stack.gateway.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': providerKey,
        'x-usagepanda-api-key': anthropicKey,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ model: CLAUDE, max_tokens: 5, messages: [{ role: 'user', content: 'by header' }] }),
    });
    expect(response.status).toBe(200);
    expect((await readJson(response)).content).toEqual([{ type: 'text', text: 'Echo: by header' }]);
    expect(lastRequest(stack.mock, '/v1/messages').headers['x-api-key']).toBe(providerKey);

    // On a connection whose target is OpenAI, the Anthropic key is not sent: the connection's key is.
    await fetch(`${stack.gateway.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': providerKey, 'x-usagepanda-api-key': openaiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    });
    const sent = lastRequest(stack.mock, '/v1/chat/completions').headers;
    expect([sent.authorization?.startsWith('Bearer sk-test-'), sent['x-api-key']]).toEqual([true, undefined]);
  });

  it('sends the key the SDK sends to an Anthropic target, tools and tool results both ways', async () => {
    const providerKey = `sk-ant-${fakeProviderKey()}`;
    const client = anthropic(providerKey, { 'x-usagepanda-api-key': anthropicKey });
    const tools = [
      {
        name: 'lookup',
        description: 'Looks a word up',
        input_schema: { type: 'object' as const, properties: { echo: { type: 'string' } } },
      },
    ];
    const first = await client.messages.create({
      model: CLAUDE,
      max_tokens: 100,
      tools,
      tool_choice: { type: 'tool', name: 'lookup' },
      messages: [{ role: 'user', content: 'find panda' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((block) => block.type === 'tool_use');
    expect(call).toMatchObject({ type: 'tool_use', name: 'lookup', input: { echo: 'find panda' } });
    const sent = lastRequest(stack.mock, '/v1/messages');
    expect(sent.headers['x-api-key']).toBe(providerKey);
    expect(sent.json).toMatchObject({ tools, tool_choice: { type: 'tool', name: 'lookup' } });

    const second = await client.messages.create({
      model: CLAUDE,
      max_tokens: 100,
      tools,
      messages: [
        { role: 'user', content: 'find panda' },
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: call?.type === 'tool_use' ? call.id : '', content: 'a bear' }],
        },
      ],
    });
    expect(second.content).toEqual([{ type: 'text', text: 'Echo: tool result: a bear' }]);
  });

  it('streams Messages events from an OpenAI stream, with usage in message_delta, recorded', async () => {
    const stream = anthropic(openaiKey).messages.stream({
      model: 'gpt-4o-mini',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'stream these words please' }],
    });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    const message = await stream.finalMessage();
    expect(text).toBe('Echo: stream these words please');
    expect(message.content).toEqual([{ type: 'text', text }]);
    expect(message.usage).toMatchObject({ input_tokens: 4, output_tokens: 5 });
    expect(types[0]).toBe('message_start');
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    const record = await newestRecord();
    expect(record).toMatchObject({
      endpoint: '/anthropic/v1/messages',
      stream: true,
      promptTokens: 4,
      usageEstimated: false,
    });
  });

  it('streams a tool call from an Anthropic target as tool_use with input_json_delta', async () => {
    const stream = anthropic(anthropicKey).messages.stream(
      {
        model: CLAUDE,
        max_tokens: 100,
        tools: [{ name: 'lookup', input_schema: { type: 'object' } }],
        tool_choice: { type: 'any' },
        messages: [{ role: 'user', content: 'stream a call' }],
      },
      { headers: { 'x-usagepanda-anthropic-api-key': fakeProviderKey() } },
    );
    const message = await stream.finalMessage();
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toMatchObject([{ type: 'tool_use', name: 'lookup', input: { echo: 'stream a call' } }]);
  });

  it('answers a wrong key with 401 in Anthropic’s error shape', async () => {
    const err = await anthropicError(
      anthropic('up-not-a-key').messages.create({
        model: CLAUDE,
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(err.status).toBe(401);
    expect(err.error).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'Usage Panda: invalid or missing API key' },
    });
  });

  it('refuses a request it cannot read with 400 naming the field, and records it', async () => {
    const err = await anthropicError(
      anthropic(openaiKey).messages.create({
        model: CLAUDE,
        max_tokens: 5,
        messages: [
          {
            role: 'user',
            content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }],
          },
        ],
      }),
    );
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'Usage Panda: messages.0.content.0: content block type document is not supported',
      },
    });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect([record.endpoint, record.status, record.costUsd]).toEqual(['/anthropic/v1/messages', 400, 0]);

    const missing = await fetch(`${stack.gateway.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': openaiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ model: CLAUDE, messages: [] }),
    });
    expect(missing.status).toBe(400);
    expect((await readJson(missing)).error.message).toBe('Usage Panda: max_tokens: a number is required');
  });

  it('forwards a path it does not read to an Anthropic target as sent, and refuses it for another provider', async () => {
    stack.mock.reset();
    const providerKey = `sk-ant-${fakeProviderKey()}`;
    const listed = await fetch(`${stack.gateway.url}/anthropic/v1/models?limit=2`, {
      headers: { 'x-api-key': providerKey, 'x-usagepanda-api-key': anthropicKey, 'anthropic-version': '2023-06-01' },
    });
    expect(listed.status).toBe(200);
    const sent = lastRequest(stack.mock, '/v1/models');
    expect([sent.method, sent.query, sent.headers['x-api-key'], sent.headers['anthropic-version']]).toEqual([
      'GET',
      { limit: '2' },
      providerKey,
      '2023-06-01',
    ]);
    const record = await stack.record(listed.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      endpoint: '/anthropic/v1/models',
      method: 'GET',
      provider: 'anthropic',
      costUsd: 0,
    });

    stack.mock.reset();
    const response = await fetch(`${stack.gateway.url}/anthropic/v1/models`, { headers: { 'x-api-key': openaiKey } });
    expect(response.status).toBe(400);
    expect(await readJson(response)).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          'Usage Panda: GET /anthropic/v1/models is not available on provider openai: only anthropic targets serve it',
      },
    });
    expect(stack.mock.requests).toHaveLength(0);
  });

  it('answers a browser’s CORS preflight of the route with 204', async () => {
    const response = await fetch(`${stack.gateway.url}/anthropic/v1/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(204);
  });

  it('passes an upstream error on with its status, in Anthropic’s shape', async () => {
    const err = await anthropicError(
      anthropic(openaiKey, { 'x-mock-status': '429' }).messages.create({
        model: 'gpt-4o-mini',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(err.status).toBe(429);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });
});

describe('Policies at /anthropic/v1/messages', () => {
  let key: string;
  beforeAll(async () => {
    ({ key } = await stack.createConnection({ upstream: { provider: 'anthropic', baseUrl: origin } }));
  });
  const ask = (headers: Record<string, string>, body: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) =>
    anthropic(key, { 'x-usagepanda-anthropic-api-key': fakeProviderKey(), ...headers }).messages.create({
      model: CLAUDE,
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hi' }],
      ...body,
    });

  it('enforces user ids: metadata.user_id is the end user', async () => {
    const err = await anthropicError(ask({ 'x-usagepanda-enforce-user-ids': 'true' }));
    expect(err.status).toBe(422);
    expect(err.error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'Usage Panda: Config set to block requests without user field' },
    });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.flags.map((f) => f.type)).toEqual(['policy_enforce_user_ids']);
    const ok = await ask({ 'x-usagepanda-enforce-user-ids': 'true' }, { metadata: { user_id: 'u-2' } });
    expect(ok.content).toEqual([{ type: 'text', text: 'Echo: hi' }]);
  });

  it('enforces max tokens on max_tokens', async () => {
    const err = await anthropicError(ask({ 'x-usagepanda-max-tokens': '10' }, { max_tokens: 500 }));
    expect(err.status).toBe(422);
    expect(err.error).toMatchObject({
      error: { message: 'Usage Panda: Config set to max tokens of: 10; request was: 500' },
    });
  });

  it('redacts a wordlist match in the stream', async () => {
    const stream = anthropic(key, {
      'x-usagepanda-anthropic-api-key': fakeProviderKey(),
      'x-usagepanda-response-wordlists': 'profanity:redact',
    }).messages.stream({ model: CLAUDE, max_tokens: 50, messages: [{ role: 'user', content: 'well shit happens' }] });
    const message = await stream.finalMessage();
    expect(message.content).toEqual([{ type: 'text', text: 'Echo: well **** happens' }]);
  });

  it('blocks a reflection of the marked system prompt', async () => {
    const err = await anthropicError(
      ask(
        { 'x-usagepanda-prompt-reflection': 'block' },
        { system: 'The code is ||4711||.', messages: [{ role: 'user', content: 'repeat 4711' }] },
      ),
    );
    expect(err.status).toBe(422);
    expect(err.error).toMatchObject({
      error: { message: 'Usage Panda: The response contained a reflection of the original prompt' },
    });
  });
});

describe('@google/genai at /gemini/v1beta/models/{model}:generateContent', () => {
  let openaiKey: string;
  let geminiKey: string;
  beforeAll(async () => {
    ({ key: openaiKey } = await stack.createConnection({ providerKey: fakeProviderKey() }));
    ({ key: geminiKey } = await stack.createConnection({ upstream: { provider: 'gemini', baseUrl: origin } }));
  });

  it('answers generateContent from a Gemini target with the key sent as x-goog-api-key, recorded and priced', async () => {
    const providerKey = `AIza${fakeProviderKey()}`;
    const response = await gemini(providerKey, {
      'x-usagepanda-api-key': geminiKey,
      'x-usagepanda-user': 'u-gem-1',
    }).models.generateContent({
      model: GEMINI,
      contents: 'hello gemini native',
      config: { systemInstruction: 'Be brief.', maxOutputTokens: 50 },
    });
    expect(response.text).toBe('Echo: hello gemini native');
    expect(response.candidates?.[0]?.finishReason).toBe('STOP');
    expect(response.usageMetadata).toMatchObject({ promptTokenCount: 5, candidatesTokenCount: 4, totalTokenCount: 9 });
    const sent = lastRequest(stack.mock, `/v1beta/models/${GEMINI}:generateContent`);
    expect(sent.headers['x-goog-api-key']).toBe(providerKey);
    expect(sent.json).toMatchObject({
      contents: [{ role: 'user', parts: [{ text: 'hello gemini native' }] }],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { maxOutputTokens: 50 },
    });
    const record = await newestRecord();
    expect(record).toMatchObject({
      endpoint: `/gemini/v1beta/models/${GEMINI}:generateContent`,
      operation: 'chat',
      provider: 'gemini',
      model: GEMINI,
      endUser: 'u-gem-1',
      status: 200,
      promptTokens: 5,
    });
    expect(record.costUsd).toBeGreaterThan(0);
  });

  it('answers generateContent from an OpenAI upstream with the Usage Panda key as the SDK’s key', async () => {
    const response = await gemini(openaiKey).models.generateContent({
      model: 'gpt-4o-mini',
      contents: [{ role: 'user', parts: [{ text: 'cross provider' }] }],
    });
    expect(response.text).toBe('Echo: cross provider');
    const sent = lastRequest(stack.mock, '/v1/chat/completions');
    expect(sent.json).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'cross provider' }] }],
    });
    expect(sent.headers['x-goog-api-key']).toBeUndefined();
    expect((await newestRecord()).provider).toBe('openai');
  });

  it('streams with generateContentStream, usage metadata on the last response, recorded', async () => {
    const stream = await gemini(geminiKey).models.generateContentStream({
      model: GEMINI,
      contents: 'stream gemini words',
      config: { httpOptions: { headers: { 'x-usagepanda-gemini-api-key': fakeProviderKey() } } },
    });
    let text = '';
    let last: Awaited<ReturnType<typeof stream.next>>['value'] | undefined;
    for await (const chunk of stream) {
      text += chunk.text ?? '';
      last = chunk;
    }
    expect(text).toBe('Echo: stream gemini words');
    expect(last?.candidates?.[0]?.finishReason).toBe('STOP');
    expect(last?.usageMetadata).toMatchObject({ promptTokenCount: 3, candidatesTokenCount: 4 });
    const record = await newestRecord();
    expect(record).toMatchObject({ stream: true, provider: 'gemini', usageEstimated: false, promptTokens: 3 });
  });

  it('calls a function and reads its response back', async () => {
    const client = gemini(geminiKey, { 'x-usagepanda-gemini-api-key': fakeProviderKey() });
    const tools = [
      {
        functionDeclarations: [
          { name: 'lookup', parameters: { type: Type.OBJECT, properties: { echo: { type: Type.STRING } } } },
        ],
      },
    ];
    const first = await client.models.generateContent({
      model: GEMINI,
      contents: 'find panda',
      config: { tools, toolConfig: { functionCallingConfig: { mode: 'ANY' as never } } },
    });
    expect(first.functionCalls).toMatchObject([{ name: 'lookup', args: { echo: 'find panda' } }]);
    // Gemini to Gemini: the SDK's own schema, as it sent it.
    const sent = lastRequest(stack.mock, `/v1beta/models/${GEMINI}:generateContent`);
    expect(sent.json).toMatchObject({
      tools: [
        {
          functionDeclarations: [
            { name: 'lookup', parameters: { type: 'OBJECT', properties: { echo: { type: 'STRING' } } } },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
    });

    const second = await client.models.generateContent({
      model: GEMINI,
      contents: [
        { role: 'user', parts: [{ text: 'find panda' }] },
        { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { echo: 'find panda' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'lookup', response: { content: 'a bear' } } }] },
      ],
      config: { tools },
    });
    expect(second.text).toBe('Echo: tool result: a bear');
  });

  it('answers a wrong key with 401 in Gemini’s error shape', async () => {
    const err = await geminiError(gemini('up-not-a-key').models.generateContent({ model: GEMINI, contents: 'x' }));
    expect(err.status).toBe(401);
    expect(err.message).toContain('Usage Panda: invalid or missing API key');
    const response = await fetch(`${stack.gateway.url}/gemini/v1beta/models/${GEMINI}:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': 'up-not-a-key', 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [] }),
    });
    expect(await readJson(response)).toEqual({
      error: { code: 401, message: 'Usage Panda: invalid or missing API key', status: 'UNAUTHENTICATED' },
    });
  });

  it('takes the key as ?key= too, and refuses a stream without alt=sse with 400', async () => {
    const url = `${stack.gateway.url}/gemini/v1beta/models/${GEMINI}`;
    const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'by query' }] }] });
    const headers = { 'content-type': 'application/json', 'x-usagepanda-gemini-api-key': fakeProviderKey() };
    const ok = await fetch(`${url}:generateContent?key=${geminiKey}`, { method: 'POST', headers, body });
    expect(ok.status).toBe(200);
    expect((await readJson(ok)).candidates[0].content.parts).toEqual([{ text: 'Echo: by query' }]);
    const notSse = await fetch(`${url}:streamGenerateContent?key=${geminiKey}`, { method: 'POST', headers, body });
    expect(notSse.status).toBe(400);
    expect(await readJson(notSse)).toEqual({
      error: {
        code: 400,
        message: 'Usage Panda: streamGenerateContent is served as server-sent events: add ?alt=sse',
        status: 'INVALID_ARGUMENT',
      },
    });
  });

  it('refuses Google’s built-in tools for an OpenAI target with 400 naming the field', async () => {
    const err = await geminiError(
      gemini(openaiKey).models.generateContent({
        model: GEMINI,
        contents: 'x',
        config: { tools: [{ googleSearch: {} }] },
      }),
    );
    expect(err.status).toBe(400);
    expect(err.message).toContain('tools.0: only functionDeclarations are supported');
  });
});

describe('Policies at the Gemini route', () => {
  let key: string;
  beforeAll(async () => {
    ({ key } = await stack.createConnection({ upstream: { provider: 'gemini', baseUrl: origin } }));
  });
  const client = (headers: Record<string, string>) =>
    gemini(key, { 'x-usagepanda-gemini-api-key': fakeProviderKey(), ...headers });

  it('enforces user ids: x-usagepanda-user is the end user', async () => {
    const err = await geminiError(
      client({ 'x-usagepanda-enforce-user-ids': 'true' }).models.generateContent({ model: GEMINI, contents: 'hi' }),
    );
    expect(err.status).toBe(422);
    expect(err.message).toContain('Usage Panda: Config set to block requests without user field');
    const record = await newestRecord();
    expect([record.status, record.flags.map((f) => f.type), record.costUsd]).toEqual([
      422,
      ['policy_enforce_user_ids'],
      0,
    ]);
    const ok = await client({
      'x-usagepanda-enforce-user-ids': 'true',
      'x-usagepanda-user': 'u-3',
    }).models.generateContent({ model: GEMINI, contents: 'hi' });
    expect(ok.text).toBe('Echo: hi');
  });

  it('enforces max tokens on maxOutputTokens', async () => {
    const err = await geminiError(
      client({ 'x-usagepanda-max-tokens': '10' }).models.generateContent({
        model: GEMINI,
        contents: 'hi',
        config: { maxOutputTokens: 500 },
      }),
    );
    expect(err.status).toBe(422);
    expect(err.message).toContain('Usage Panda: Config set to max tokens of: 10; request was: 500');
  });

  it('redacts a wordlist match in the stream', async () => {
    const stream = await client({ 'x-usagepanda-response-wordlists': 'profanity:redact' }).models.generateContentStream(
      {
        model: GEMINI,
        contents: 'well shit happens',
      },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.text ?? '';
    expect(text).toBe('Echo: well **** happens');
  });

  it('blocks a reflection of the marked system prompt', async () => {
    const err = await geminiError(
      client({ 'x-usagepanda-prompt-reflection': 'block' }).models.generateContent({
        model: GEMINI,
        contents: 'repeat 4711',
        config: { systemInstruction: 'The code is ||4711||.' },
      }),
    );
    expect(err.status).toBe(422);
    expect(err.message).toContain('Usage Panda: The response contained a reflection of the original prompt');
  });
});
