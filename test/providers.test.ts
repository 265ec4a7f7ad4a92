// The official openai SDK through each provider the gateway translates to: chat, streams,
// tools, embeddings where the provider has them, the policies and the price per provider.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, fakeProviderKey, lastRequest, type Stack, startStack } from './harness.js';

// Provider keys made at run time: never a real one.
const HEADER_KEY = fakeProviderKey();

let stack: Stack;
let origin: string;
beforeAll(async () => {
  stack = await startStack();
  origin = new URL(stack.mock.url).origin;
});
afterAll(() => stack?.close());

const CLAUDE = 'claude-3-5-haiku-20241022';
const user = (content: string) => ({ role: 'user' as const, content });

describe('Anthropic through the openai SDK', () => {
  let key: string;
  beforeAll(async () => {
    ({ key } = await stack.createConnection({ upstream: { provider: 'anthropic', baseUrl: origin } }));
  });

  it('translates a chat with a system message and an image, and prices it as Anthropic’s', async () => {
    const providerKey = fakeProviderKey();
    const { data, response } = await stack
      .client(key, { apiKey: providerKey })
      .chat.completions.create({
        model: CLAUDE,
        max_tokens: 100,
        user: 'u-7',
        messages: [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            ],
          },
        ],
      })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.message.content).toBe('Echo: What is this?');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    const sent = lastRequest(stack.mock, '/v1/messages');
    expect(sent.headers['x-api-key']).toBe(providerKey);
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.json).toEqual({
      model: CLAUDE,
      max_tokens: 100,
      system: 'Be brief.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          ],
        },
      ],
      metadata: { user_id: 'u-7' },
    });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.provider).toBe('anthropic');
    expect(record.promptTokens).toBe(5);
    expect(record.completionTokens).toBe(4);
    // claude-3-5-haiku: $0.80 per million input tokens, $4 per million output tokens.
    expect(record.costUsd).toBeCloseTo((5 * 0.8 + 4 * 4) / 1e6, 12);
    expect(record.attempts.map((a) => [a.provider, a.status])).toEqual([['anthropic', 200]]);
  });

  it('streams chat.completion.chunk events with the usage chunk when include_usage is set', async () => {
    const stream = await stack.client(key).chat.completions.create({
      model: CLAUDE,
      messages: [user('stream these words')],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown = null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Echo: stream these words');
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  });

  it('records the usage of a stream whose client did not ask for it, and sends no usage chunk', async () => {
    const { data: stream, response } = await stack
      .client(key)
      .chat.completions.create({ model: CLAUDE, messages: [user('quiet stream')], stream: true })
      .withResponse();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Echo: quiet stream');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.stream).toBe(true);
    expect([record.promptTokens, record.completionTokens, record.usageEstimated]).toEqual([2, 3, false]);
    expect(record.upstreamId).toMatch(/^msg_mock/);
  });

  const tools = [
    {
      type: 'function' as const,
      function: {
        name: 'lookup',
        description: 'Looks a word up',
        parameters: { type: 'object', properties: { echo: { type: 'string' } } },
      },
    },
  ];

  it('translates tools, tool_choice and tool results both ways', async () => {
    const client = stack.client(key);
    const first = await client.chat.completions.create({
      model: CLAUDE,
      messages: [user('find panda')],
      tools,
      tool_choice: 'required',
    });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' && call.function).toEqual({ name: 'lookup', arguments: '{"echo":"find panda"}' });
    expect(lastRequest(stack.mock, '/v1/messages').json).toMatchObject({
      tools: [
        {
          name: 'lookup',
          description: 'Looks a word up',
          input_schema: { type: 'object', properties: { echo: { type: 'string' } } },
        },
      ],
      tool_choice: { type: 'any' },
    });

    const second = await client.chat.completions.create({
      model: CLAUDE,
      messages: [
        user('find panda'),
        { role: 'assistant', content: null, tool_calls: first.choices[0]?.message.tool_calls },
        { role: 'tool', tool_call_id: call?.id ?? '', content: 'a bear' },
      ],
      tools,
    });
    expect(second.choices[0]?.message.content).toBe('Echo: tool result: a bear');
    expect((lastRequest(stack.mock, '/v1/messages').json as { messages: unknown[] }).messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: call?.id, name: 'lookup', input: { echo: 'find panda' } }],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call?.id, content: 'a bear' }] },
    ]);
  });

  it('streams a tool call as tool_calls deltas', async () => {
    const stream = await stack.client(key).chat.completions.create({
      model: CLAUDE,
      messages: [user('stream a call')],
      tools,
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      stream: true,
    });
    let args = '';
    let name = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.tool_calls?.[0];
      name += delta?.function?.name ?? '';
      args += delta?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect([name, args, finish]).toEqual(['lookup', '{"echo":"stream a call"}', 'tool_calls']);
  });

  it('answers embeddings with a 400 naming the endpoint and the provider, calling nothing', async () => {
    stack.mock.reset();
    const err = await apiError(stack.client(key).embeddings.create({ model: CLAUDE, input: 'x' }));
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message: 'Usage Panda: the embeddings endpoint is not available on provider anthropic',
      type: 'invalid_request',
      param: null,
      code: null,
    });
    expect(stack.mock.requests).toHaveLength(0);
  });

  it('gives Anthropic’s errors in OpenAI’s shape', async () => {
    const err = await apiError(
      stack.client(key).chat.completions.create({ model: CLAUDE, messages: [] }, { maxRetries: 0 }),
    );
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message: 'messages: Field required',
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
  });

  it('uses x-usagepanda-anthropic-api-key before the bearer token', async () => {
    await stack
      .client(key)
      .chat.completions.create(
        { model: CLAUDE, messages: [user('k')] },
        { headers: { 'x-usagepanda-anthropic-api-key': HEADER_KEY } },
      );
    expect(lastRequest(stack.mock, '/v1/messages').headers['x-api-key']).toBe(HEADER_KEY);
  });
});

describe('Azure OpenAI through the openai SDK', () => {
  it('sends chat and embeddings to the deployment with api-key and api-version', async () => {
    const { key } = await stack.createConnection({
      upstream: {
        provider: 'azure',
        baseUrl: origin,
        apiKey: 'azure-key-1',
        apiVersion: '2024-06-01',
        deployments: { 'gpt-4o-mini': 'gpt-4o' },
      },
    });
    const client = stack.client(key);
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [user('hi azure')] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hi azure');
    const sent = lastRequest(stack.mock, '/openai/deployments/gpt-4o/chat/completions');
    expect(sent.query).toEqual({ 'api-version': '2024-06-01' });
    expect(sent.headers['api-key']).toBe('azure-key-1');
    expect(sent.headers.authorization).toBeUndefined();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.provider).toBe('azure');
    expect(record.costUsd).toBeGreaterThan(0);

    const embedding = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'vector' });
    expect(embedding.data).toHaveLength(1);
    expect(lastRequest(stack.mock, '/openai/deployments/text-embedding-3-small/embeddings').headers['api-key']).toBe(
      'azure-key-1',
    );
  });

  it('streams through Azure and records the usage', async () => {
    const { key } = await stack.createConnection({ upstream: { provider: 'azure', baseUrl: origin } });
    const { data: stream, response } = await stack
      .client(key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [user('azure stream')], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Echo: azure stream');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect([record.provider, record.promptTokens, record.usageEstimated]).toEqual(['azure', 2, false]);
  });

  it('refuses an x-usagepanda-azure-resource header that is not a resource name with 400', async () => {
    const { key } = await stack.createConnection();
    const err = await apiError(
      stack
        .client(key)
        .chat.completions.create(
          { model: 'gpt-4o-mini', messages: [user('x')] },
          { headers: { 'x-usagepanda-azure-resource': 'bad resource!' } },
        ),
    );
    expect(err.status).toBe(400);
    expect(err.error).toMatchObject({
      message:
        'Usage Panda: invalid x-usagepanda-azure-resource header: use the resource name, letters, digits and "-"',
    });
  });
});

describe('Gemini through the openai SDK', () => {
  const GEMINI = 'gemini-2.0-flash';
  let key: string;
  beforeAll(async () => {
    ({ key } = await stack.createConnection({ upstream: { provider: 'gemini', baseUrl: origin } }));
  });

  it('translates a chat with a system instruction and prices it as Google’s', async () => {
    const providerKey = fakeProviderKey();
    const { data, response } = await stack
      .client(key, { apiKey: providerKey })
      .chat.completions.create({
        model: GEMINI,
        max_tokens: 50,
        messages: [{ role: 'system', content: 'Be brief.' }, user('hello gemini')],
      })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hello gemini');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    const sent = lastRequest(stack.mock, `/v1beta/models/${GEMINI}:generateContent`);
    expect(sent.headers['x-goog-api-key']).toBe(providerKey);
    expect(sent.json).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'hello gemini' }] }],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { maxOutputTokens: 50 },
    });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect([record.provider, record.promptTokens, record.completionTokens]).toEqual(['gemini', 4, 3]);
    // gemini-2.0-flash: $0.10 per million input tokens, $0.40 per million output tokens.
    expect(record.costUsd).toBeCloseTo((4 * 0.1 + 3 * 0.4) / 1e6, 12);
  });

  it('streams chunks and the usage chunk when asked', async () => {
    const stream = await stack.client(key).chat.completions.create({
      model: GEMINI,
      messages: [user('stream me please')],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Echo: stream me please');
    expect(usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  });

  it('translates a function call and its result', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object' } } }];
    const client = stack.client(key);
    const first = await client.chat.completions.create({
      model: GEMINI,
      messages: [user('find it')],
      tools,
      tool_choice: 'required',
    });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' && call.function).toEqual({ name: 'lookup', arguments: '{"echo":"find it"}' });
    const second = await client.chat.completions.create({
      model: GEMINI,
      messages: [
        user('find it'),
        { role: 'assistant', content: null, tool_calls: first.choices[0]?.message.tool_calls },
        { role: 'tool', tool_call_id: call?.id ?? '', content: 'found' },
      ],
      tools,
    });
    expect(second.choices[0]?.message.content).toBe('Echo: tool result: found');
    expect(
      (lastRequest(stack.mock, `/v1beta/models/${GEMINI}:generateContent`).json as { contents: unknown[] }).contents[2],
    ).toEqual({
      role: 'user',
      parts: [{ functionResponse: { name: 'lookup', response: { content: 'found' } } }],
    });
  });

  it('answers a prompt blocked for safety with a clear 400', async () => {
    const err = await apiError(
      stack.client(key).chat.completions.create({ model: GEMINI, messages: [user('BLOCKME')] }),
    );
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message: 'Usage Panda: gemini refused the request: the prompt was blocked (SAFETY)',
      type: 'invalid_request',
      param: null,
      code: null,
    });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect([record.provider, record.status]).toEqual(['gemini', 400]);
  });

  it('makes embeddings with embedContent and batchEmbedContents, in base64 and as floats', async () => {
    const client = stack.client(key);
    const one = await client.embeddings.create({ model: 'text-embedding-004', input: 'abc' });
    expect(one.data[0]?.embedding).toHaveLength(8);
    expect(lastRequest(stack.mock, '/v1beta/models/text-embedding-004:embedContent').json).toEqual({
      content: { parts: [{ text: 'abc' }] },
    });
    const two = await client.embeddings.create({
      model: 'text-embedding-004',
      input: ['a', 'b'],
      encoding_format: 'float',
    });
    expect(two.data.map((d) => d.index)).toEqual([0, 1]);
    expect(two.data[0]?.embedding[0]).toBeCloseTo(one.data[0]?.embedding[0] ?? -1, 5);
  });

  it('takes the key from x-usagepanda-gemini-api-key and its alias x-usagepanda-palm-api-key', async () => {
    for (const name of ['x-usagepanda-gemini-api-key', 'x-usagepanda-palm-api-key']) {
      await stack
        .client(key)
        .chat.completions.create({ model: GEMINI, messages: [user('k')] }, { headers: { [name]: `g-${name}` } });
      expect(lastRequest(stack.mock, `/v1beta/models/${GEMINI}:generateContent`).headers['x-goog-api-key']).toBe(
        `g-${name}`,
      );
    }
  });
});

describe('Bedrock Converse through the openai SDK', () => {
  const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
  let key: string;
  beforeAll(async () => {
    ({ key } = await stack.createConnection({
      upstream: {
        provider: 'bedrock',
        baseUrl: origin,
        region: 'eu-west-1',
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      },
    }));
  });
  const path = (operation: string) => `/model/${encodeURIComponent(HAIKU)}/${operation}`;

  it('signs a Converse request with SigV4 and prices the answer as AWS’s', async () => {
    const { data, response } = await stack
      .client(key)
      .chat.completions.create({
        model: HAIKU,
        max_tokens: 64,
        messages: [{ role: 'system', content: 'Be brief.' }, user('hello bedrock')],
      })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hello bedrock');
    const sent = lastRequest(stack.mock, path('converse'));
    expect(sent.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/bedrock\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/,
    );
    expect(JSON.stringify(sent.headers)).not.toContain('wJalrXUtnFEMI');
    expect(sent.json).toEqual({
      messages: [{ role: 'user', content: [{ text: 'hello bedrock' }] }],
      system: [{ text: 'Be brief.' }],
      inferenceConfig: { maxTokens: 64 },
    });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect([record.provider, record.promptTokens, record.completionTokens]).toEqual(['bedrock', 4, 3]);
    // Claude 3 Haiku on Bedrock: $0.25 per million input tokens, $1.25 per million output tokens.
    expect(record.costUsd).toBeCloseTo((4 * 0.25 + 3 * 1.25) / 1e6, 12);
  });

  it('reads ConverseStream’s binary event stream into chunks with usage', async () => {
    const { data: stream, response } = await stack
      .client(key)
      .chat.completions.create({ model: HAIKU, messages: [user('stream from aws')], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Echo: stream from aws');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect([record.promptTokens, record.completionTokens, record.usageEstimated]).toEqual([3, 4, false]);
  });

  it('translates tool use, streamed too', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object' } } }];
    const answer = await stack.client(key).chat.completions.create({
      model: HAIKU,
      messages: [user('use it')],
      tools,
      tool_choice: 'required',
    });
    const call = answer.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function).toEqual({ name: 'lookup', arguments: '{"echo":"use it"}' });
    const stream = await stack.client(key).chat.completions.create({
      model: HAIKU,
      messages: [user('use it')],
      tools,
      tool_choice: 'required',
      stream: true,
    });
    let args = '';
    for await (const chunk of stream) args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
    expect(args).toBe('{"echo":"use it"}');
  });

  it('has the mock refuse a Converse request without a well-formed signature', async () => {
    const send = (authorization?: string) =>
      fetch(`${origin}${path('converse')}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'x' }] }] }),
      });
    const unsigned = await send();
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({ message: 'Missing Authentication Token' });
    const forged = await send(
      'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, Signature=abc',
    );
    expect(await forged.json()).toEqual({ message: 'Authorization header is not a well-formed SigV4 signature' });
  });

  it('refuses a Bedrock upstream without AWS credentials with 401, before calling it', async () => {
    const { key: bare } = await stack.createConnection({ upstream: { provider: 'bedrock', baseUrl: origin } });
    const err = await apiError(stack.client(bare).chat.completions.create({ model: HAIKU, messages: [user('x')] }));
    expect(err.status).toBe(401);
    expect(err.error).toMatchObject({
      message: "Usage Panda: no credentials for bedrock: set the upstream's accessKeyId and secretAccessKey",
    });
  });
});

describe('The log by provider', () => {
  it('filters /api/logs by provider, and refuses an unknown one with 400', async () => {
    const { id, key } = await stack.createConnection({
      targets: [{ provider: 'anthropic', baseUrl: origin, models: ['claude-*'] }, stack.mock.url],
    });
    const client = stack.client(key);
    await client.chat.completions.create({ model: CLAUDE, messages: [user('to anthropic')] });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [user('to openai')] })
      .withResponse();
    await stack.record(response.headers.get('x-usagepanda-request-id'));
    const { json } = await stack.admin('GET', `/api/logs?connection=${id}&provider=anthropic`);
    expect(json.data.map((r: { provider: string; model: string }) => [r.provider, r.model])).toEqual([
      ['anthropic', CLAUDE],
    ]);
    const bad = await stack.admin('GET', '/api/logs?provider=palm');
    expect(bad.status).toBe(400);
  });
});

/** Every provider the gateway speaks, each at the mock upstream, with the model it is asked for. */
const EVERY_PROVIDER = [
  { name: 'openai', model: 'gpt-4o-mini', upstream: () => `${origin}/v1` },
  { name: 'azure', model: 'gpt-4o-mini', upstream: () => ({ provider: 'azure', baseUrl: origin }) },
  { name: 'anthropic', model: CLAUDE, upstream: () => ({ provider: 'anthropic', baseUrl: origin }) },
  { name: 'gemini', model: 'gemini-2.0-flash', upstream: () => ({ provider: 'gemini', baseUrl: origin }) },
  {
    name: 'bedrock',
    model: 'anthropic.claude-3-haiku-20240307-v1:0',
    upstream: () => ({
      provider: 'bedrock',
      baseUrl: origin,
      region: 'eu-west-1',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    }),
  },
];

describe.each(EVERY_PROVIDER)('Policies on provider $name', ({ name, model, upstream }) => {
  let key: string;
  beforeAll(async () => {
    ({ key } = await stack.createConnection({ upstream: upstream() }));
  });

  it('enforces user ids', async () => {
    const err = await apiError(
      stack
        .client(key)
        .chat.completions.create(
          { model, messages: [user('hi')] },
          { headers: { 'x-usagepanda-enforce-user-ids': 'true' } },
        ),
    );
    expect(err.status).toBe(422);
    expect(err.error).toMatchObject({ message: 'Usage Panda: Config set to block requests without user field' });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect([record.provider, record.costUsd, record.attempts.length]).toEqual([name, 0, 0]);
  });

  it('enforces max tokens', async () => {
    const err = await apiError(
      stack
        .client(key)
        .chat.completions.create(
          { model, max_tokens: 500, messages: [user('hi')] },
          { headers: { 'x-usagepanda-max-tokens': '100' } },
        ),
    );
    expect(err.status).toBe(422);
    expect(err.error).toMatchObject({ message: 'Usage Panda: Config set to max tokens of: 100; request was: 500' });
  });

  it('redacts a wordlist match in the translated stream, and records the stream’s usage and price', async () => {
    const { data: stream, response } = await stack
      .client(key)
      .chat.completions.create(
        { model, messages: [user('well shit happens')], stream: true },
        { headers: { 'x-usagepanda-response-wordlists': 'profanity:redact' } },
      )
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Echo: well **** happens');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect([record.provider, record.status, record.usageEstimated]).toEqual([name, 200, false]);
    expect(record.promptTokens).toBeGreaterThan(0);
    expect(record.costUsd).toBeGreaterThan(0);
    expect(record.flags.map((f) => f.type)).toEqual(['policy_wordlists']);
  });

  it('blocks a reflection of the marked system prompt in the answer', async () => {
    const err = await apiError(
      stack.client(key).chat.completions.create(
        {
          model,
          messages: [{ role: 'system', content: 'The code is ||4711||.' }, user('repeat 4711')],
        },
        { headers: { 'x-usagepanda-prompt-reflection': 'block' } },
      ),
    );
    expect(err.status).toBe(422);
    expect(err.error).toMatchObject({
      message: 'Usage Panda: The response contained a reflection of the original prompt',
    });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.provider).toBe(name);
    expect(record.flags).toEqual([
      { type: 'policy_prompt_reflection', description: 'The response contained a reflection of the original prompt' },
    ]);
  });
});

describe('Budgets on a translated provider', () => {
  it('reserves at the target provider’s price for the mapped model, so a Claude request under a USD budget passes', async () => {
    const { id, key } = await stack.createConnection({
      targets: [{ provider: 'anthropic', baseUrl: origin, modelMap: { 'claude-latest': CLAUDE } }],
      policy: { budgets: [{ per: 'connection', window: 'day', usd: 1 }] },
    });
    const { data, response } = await stack
      .client(key)
      .chat.completions.create({ model: 'claude-latest', max_tokens: 100, messages: [user('priced')] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: priced');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect([record.provider, record.status]).toEqual(['anthropic', 200]);
    expect(record.costUsd).toBeGreaterThan(0);
    const status = await stack.admin('GET', `/api/budgets?connection=${id}`);
    expect(status.status).toBe(200);
    expect(JSON.stringify(status.json)).toContain('"unit":"usd"');
  });
});

describe('Providers without a baseUrl when the mock upstream is on', () => {
  let mocked: Stack;
  beforeAll(async () => {
    mocked = await startStack({ mockUpstream: true });
  });
  afterAll(() => mocked?.close());

  it('sends every provider to the in-process mock upstream, which speaks each format', async () => {
    const upstreams = [
      { provider: 'anthropic' },
      { provider: 'gemini' },
      { provider: 'azure' },
      { provider: 'bedrock', accessKeyId: 'AKIDMOCK', secretAccessKey: 'mock-secret' },
    ];
    for (const upstream of upstreams) {
      const { key } = await mocked.createConnection({ upstream });
      const { data, response } = await mocked
        .client(key)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [user(`via ${upstream.provider}`)] })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe(`Echo: via ${upstream.provider}`);
      const record = await mocked.record(response.headers.get('x-usagepanda-request-id'));
      expect([record.provider, record.status]).toEqual([upstream.provider, 200]);
    }
    expect(mocked.mock.requests).toHaveLength(0);
  });
});
