// The mock upstream answered through the official SDK, as the gateway's clients will see it.
import OpenAI, { APIConnectionError, APIError, toFile } from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type MockUpstream, startMockUpstream } from './server.js';

let mock: MockUpstream;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  client = new OpenAI({ apiKey: 'sk-test', baseURL: mock.url, maxRetries: 0 });
});
afterAll(() => mock.close());
afterEach(() => {
  vi.useRealTimers();
});

/** Lets the event loop run I/O a few times (setImmediate is not faked). */
async function ioTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await ioTurns(1);
}
beforeEach(() => mock.reset());

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello there' }] };

async function apiError(promise: Promise<unknown>): Promise<APIError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof APIError)) throw new Error(`expected an APIError, got ${String(err)}`);
  return err;
}

async function collectChat(stream: AsyncIterable<OpenAI.ChatCompletionChunk>) {
  let text = '';
  let contentChunks = 0;
  let usage: OpenAI.CompletionUsage | undefined;
  let usageChunks = 0;
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta.content;
    if (content) {
      text += content;
      contentChunks++;
    }
    if (chunk.usage) {
      usage = chunk.usage;
      usageChunks++;
      expect(chunk.choices).toEqual([]);
    }
  }
  return { text, contentChunks, usage, usageChunks };
}

describe('chat completions', () => {
  it('echoes the last user message and counts words as tokens', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: [{ type: 'text', text: 'hello there' }] },
        ],
      })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-mock\d+$/);
    expect(data.model).toBe('gpt-4o-mini');
    expect(data.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: 'Echo: hello there', refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ]);
    expect(data.usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });
    expect(response.headers.get('x-request-id')).toMatch(/^req_mock_\d+$/);
    expect(response.headers.get('openai-processing-ms')).toMatch(/^\d+$/);
  });

  it('answers n choices, x-mock-reply, and no usage with x-mock-no-usage', async () => {
    const answer = await client.chat.completions.create(
      { ...chat, n: 2 },
      { headers: { 'x-mock-reply': 'one two', 'x-mock-no-usage': 'true' } },
    );
    expect(answer.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, 'one two'],
      [1, 'one two'],
    ]);
    expect(answer.usage).toBeUndefined();
  });

  it('streams deltas that add up to the answer, with a usage chunk only when asked', async () => {
    const plain = await collectChat(await client.chat.completions.create({ ...chat, stream: true }));
    expect(plain).toMatchObject({ text: 'Echo: hello there', contentChunks: 3, usageChunks: 0 });

    const withUsage = await collectChat(
      await client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } }),
    );
    expect(withUsage.text).toBe('Echo: hello there');
    expect(withUsage.usageChunks).toBe(1);
    expect(withUsage.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  });

  it('streams exactly x-mock-chunks content chunks, padding or grouping the answer', async () => {
    const padded = await collectChat(
      await client.chat.completions.create(
        { ...chat, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-chunks': '50' } },
      ),
    );
    expect(padded.contentChunks).toBe(50);
    expect(padded.text.startsWith('Echo: hello there ')).toBe(true);
    expect(padded.usage?.completion_tokens).toBe(50);

    const grouped = await collectChat(
      await client.chat.completions.create(
        { ...chat, stream: true },
        { headers: { 'x-mock-chunks': '2', 'x-mock-reply': 'a b c d e' } },
      ),
    );
    expect(grouped).toMatchObject({ text: 'a b c d e', contentChunks: 2 });
  });

  it('streams long answers whole and waits between chunks when asked', async () => {
    const long = await collectChat(
      await client.chat.completions.create({ ...chat, stream: true }, { headers: { 'x-mock-chunks': '5000' } }),
    );
    expect(long.contentChunks).toBe(5000);

    // Fake timers: the next chunk is written when the delay has passed on the mock's clock, not before.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const response = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-chunks': '4', 'x-mock-chunk-delay-ms': '30000' },
      body: JSON.stringify({ ...chat, stream: true }),
    });
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{.*"role":"assistant"/);
    let next: string | null = null;
    const reading = reader.read().then((chunk) => (next = new TextDecoder().decode(chunk.value)));
    await vi.advanceTimersByTimeAsync(29_999);
    await ioTurns(10);
    expect(next).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    await reading;
    expect(next).toMatch(/^data: \{.*"content":/);
    await vi.advanceTimersByTimeAsync(30_000 * 10);
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += new TextDecoder().decode(chunk.value);
    }
    expect(rest.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('answers 400 in the OpenAI error shape for a missing model or messages', async () => {
    const noModel = await apiError(client.chat.completions.create({ ...chat, model: '' }));
    expect(noModel.status).toBe(400);
    expect(noModel.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: null });
    const noMessages = await apiError(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
      } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
    );
    expect(noMessages.status).toBe(400);
    expect(noMessages.error).toMatchObject({ param: 'messages' });
  });
});

describe('other endpoints', () => {
  it('completes a prompt, plain and streamed', async () => {
    const answer = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['x', 'say hi'] });
    expect(answer.object).toBe('text_completion');
    expect(answer.choices[0]).toEqual({ text: 'Echo: say hi', index: 0, logprobs: null, finish_reason: 'stop' });
    expect(answer.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });

    const stream = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'say hi',
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Echo: say hi');
    expect(usage?.total_tokens).toBe(5);
  });

  it('embeds deterministically as floats and as base64', async () => {
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha beta', 'gamma'],
      encoding_format: 'float',
    });
    expect(floats.data).toHaveLength(2);
    const first = floats.data[0]?.embedding ?? [];
    expect(first).toHaveLength(8);
    expect(floats.data[1]?.embedding).not.toEqual(first);
    expect(floats.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });

    const b64 = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'alpha beta',
      encoding_format: 'base64',
    });
    const encoded = b64.data[0]?.embedding as unknown as string;
    const bytes = Buffer.from(encoded, 'base64');
    const decoded = Array.from({ length: 8 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(decoded).toEqual(first);
  });

  it('flags moderation input containing mockflag and nothing else', async () => {
    const result = await client.moderations.create({
      model: 'omni-moderation-latest',
      input: ['a kind word', 'this has MockFlag in it'],
    });
    expect(result.id).toMatch(/^modr-mock\d+$/);
    const [clean, flagged] = result.results;
    expect(clean?.flagged).toBe(false);
    expect(Object.values(clean?.categories ?? {}).every((v) => v === false)).toBe(true);
    expect(flagged?.flagged).toBe(true);
    expect(flagged?.categories.harassment).toBe(true);
    expect(flagged?.categories.violence).toBe(true);
    expect(flagged?.categories['self-harm']).toBe(false);
    expect(flagged?.category_scores.violence).toBe(0.9);
  });

  it('generates images as b64_json or url', async () => {
    const b64 = await client.images.generate({ model: 'dall-e-3', prompt: 'a panda', n: 2 });
    expect(b64.data).toHaveLength(2);
    expect(b64.data?.[0]?.b64_json).toMatch(/^iVBOR/);
    const url = await client.images.generate({ model: 'dall-e-2', prompt: 'a panda', response_format: 'url' });
    const link = url.data?.[0]?.url ?? '';
    const image = await fetch(link);
    expect(image.headers.get('content-type')).toBe('image/png');
  });

  it('takes an image edit as multipart and records its text fields', async () => {
    const image = await toFile(Buffer.from('not really a png'), 'panda.png', { type: 'image/png' });
    const answer = await client.images.edit({ image, prompt: 'add a hat', user: 'user-42' });
    expect(answer.data?.[0]?.b64_json).toBeTruthy();
    const recorded = mock.requests.at(-1);
    expect(recorded?.path).toBe('/v1/images/edits');
    expect(recorded?.fields).toMatchObject({ prompt: 'add a hat', user: 'user-42' });
    expect(recorded?.json).toBeUndefined();
  });

  it('transcribes an uploaded file, as JSON or plain text', async () => {
    const file = await toFile(Buffer.alloc(64, 1), 'meeting.mp3', { type: 'audio/mpeg' });
    const json = await client.audio.transcriptions.create({ file, model: 'whisper-1' });
    expect(json.text).toBe('mock transcription of meeting.mp3');
    const text = await client.audio.transcriptions.create({
      file: await toFile(Buffer.alloc(8), 'a.wav'),
      model: 'whisper-1',
      response_format: 'text',
    });
    expect(text).toBe('mock transcription of a.wav');
  });

  it('speaks binary audio', async () => {
    const speech = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hello' });
    expect(speech.headers.get('content-type')).toBe('audio/mpeg');
    expect(Buffer.from(await speech.arrayBuffer())).toHaveLength(1024);
  });

  it('lists and retrieves models, 404 for an unknown one', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
    expect(await client.models.retrieve('gpt-4o')).toMatchObject({ id: 'gpt-4o', owned_by: 'mock' });
    expect((await apiError(client.models.retrieve('nope'))).status).toBe(404);
  });

  it('answers the responses API, plain and streamed', async () => {
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello there' });
    expect(response.id).toMatch(/^resp_mock\d+$/);
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('Echo: hello there');
    expect(response.usage).toMatchObject({ input_tokens: 2, output_tokens: 3, total_tokens: 5 });

    const fromMessages = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi you' }] }],
    });
    expect(fromMessages.output_text).toBe('Echo: hi you');

    const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello there', stream: true });
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(text).toBe('Echo: hello there');
    expect(completed?.usage?.total_tokens).toBe(5);
  });

  it('answers 404 for an unknown route and 400 for malformed JSON', async () => {
    const missing = await fetch(`${mock.url}/nothing/here`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const malformed = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { type: 'invalid_request_error', param: null, code: null } });
  });

  it('serves routes at the root as well as under /v1', async () => {
    const root = new OpenAI({ apiKey: 'sk-test', baseURL: mock.url.replace(/\/v1$/, ''), maxRetries: 0 });
    const answer = await root.chat.completions.create(chat);
    expect(answer.choices[0]?.message.content).toBe('Echo: hello there');
    expect(mock.requests.at(-1)?.path).toBe('/chat/completions');
  });
});

describe('faults', () => {
  it('answers x-mock-status with an OpenAI error and retry-after', async () => {
    const err = await apiError(
      client.chat.completions.create(chat, { headers: { 'x-mock-status': '429', 'x-mock-retry-after': '7' } }),
    );
    expect(err.status).toBe(429);
    expect(err.headers?.get('retry-after')).toBe('7');
    expect((err.error as { message: string }).message).toBe('mock error 429');
  });

  it('fails only the first x-mock-fail-times requests of a key, until reset', async () => {
    const headers = { 'x-mock-status': '503', 'x-mock-fail-times': '2', 'x-mock-fail-key': 'flaky' };
    expect((await apiError(client.chat.completions.create(chat, { headers }))).status).toBe(503);
    expect((await apiError(client.chat.completions.create(chat, { headers }))).status).toBe(503);
    expect((await client.chat.completions.create(chat, { headers })).choices[0]?.message.content).toBe(
      'Echo: hello there',
    );
    const other = { ...headers, 'x-mock-fail-key': 'other' };
    expect((await apiError(client.chat.completions.create(chat, { headers: other }))).status).toBe(503);
    mock.reset();
    expect((await apiError(client.chat.completions.create(chat, { headers }))).status).toBe(503);
  });

  it('drops the connection on x-mock-fault: reset', async () => {
    const err = await client.chat.completions.create(chat, { headers: { 'x-mock-fault': 'reset' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(APIConnectionError);
  });

  it('answers a JSON object of exactly x-mock-json-bytes, with or without a content-length', async () => {
    for (const chunked of ['false', 'true']) {
      const response = await fetch(`${mock.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mock-json-bytes': '100000', 'x-mock-chunked': chunked },
        body: JSON.stringify(chat),
      });
      expect(response.headers.get('content-length')).toBe(chunked === 'true' ? null : '100000');
      const text = await response.text();
      expect(text.length).toBe(100_000);
      expect(JSON.parse(text).object).toBe('mock.padding');
    }
  });

  it('drops the connection inside a JSON answer on x-mock-fault: reset-mid-json', async () => {
    const response = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-fault': 'reset-mid-json' },
      body: JSON.stringify(chat),
    });
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
  });

  it('drops a stream after its first chunks on x-mock-fault: disconnect-mid-stream', async () => {
    const stream = await client.chat.completions.create(
      { ...chat, stream: true },
      { headers: { 'x-mock-fault': 'disconnect-mid-stream' } },
    );
    let text = '';
    const read = (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })();
    await expect(read).rejects.toThrow();
    expect(text).toBe('Echo: hello ');
  });

  it('delays by x-mock-latency-ms, and close() ends hanging requests', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let answered = false;
    const call = fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-latency-ms': '100000' },
      body: JSON.stringify(chat),
    }).then((response) => {
      answered = true;
      return response;
    });
    await until(() => mock.requests.some((r) => r.headers['x-mock-latency-ms'] === '100000'));
    await vi.advanceTimersByTimeAsync(99_999);
    await ioTurns(10);
    expect(answered).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await call).status).toBe(200);
    vi.useRealTimers();

    const other = await startMockUpstream();
    const hanging = fetch(`${other.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-fault': 'hang' },
      body: JSON.stringify(chat),
    }).then(
      () => 'answered',
      () => 'dropped',
    );
    await until(() => other.requests.length === 1);
    // close() would wait forever (and the test time out) if it did not end the hanging request.
    await other.close();
    expect(await hanging).toBe('dropped');
  });
});

describe('recorded requests', () => {
  it('records method, path, query, headers and body, and serves them over HTTP', async () => {
    await client.chat.completions.create(chat, { headers: { 'x-extra': 'yes' }, query: { debug: '1' } });
    const recorded = mock.requests.at(-1);
    expect(recorded).toMatchObject({ method: 'POST', path: '/v1/chat/completions', query: { debug: '1' } });
    expect(recorded?.headers.authorization).toBe('Bearer sk-test');
    expect(recorded?.headers['x-extra']).toBe('yes');
    expect(recorded?.json).toEqual(chat);
    expect(JSON.parse(recorded?.body.toString('utf8') ?? '')).toEqual(chat);

    const listed = await fetch(`${mock.url.replace(/\/v1$/, '')}/__mock/requests`);
    const [entry] = (await listed.json()) as Array<{ path: string; body: string }>;
    expect(entry?.path).toBe('/v1/chat/completions');
    expect(JSON.parse(entry?.body ?? '')).toEqual(chat);

    await fetch(`${mock.url}/__mock/requests`, { method: 'DELETE' });
    expect(mock.requests).toHaveLength(0);
  });

  it('keeps only the last 200 requests', async () => {
    for (let i = 0; i < 205; i++) await fetch(`${mock.url}/models`);
    expect(mock.requests).toHaveLength(200);
  });
});

describe('what agents send', () => {
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${mock.url.replace(/\/v1$/, '')}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const anthropic = { 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };

  it('calls the function tool_choice requires, then answers its output in words', async () => {
    const tools = [{ type: 'function', name: 'lookup', parameters: { type: 'object' } }];
    const called = await client.responses.create({
      model: 'gpt-4.1-mini',
      input: 'find panda',
      tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' }, strict: false }],
      tool_choice: 'required',
    });
    expect(called.output).toEqual([
      {
        type: 'function_call',
        id: expect.stringMatching(/^fc_mock/),
        call_id: expect.stringMatching(/^call_mock/),
        name: 'lookup',
        arguments: '{"echo":"find panda"}',
        status: 'completed',
      },
    ]);
    const call = called.output[0];
    const answered = await post('/v1/responses', {
      model: 'gpt-4.1-mini',
      tools,
      tool_choice: 'required',
      input: [
        { role: 'user', content: 'find panda' },
        call,
        { type: 'function_call_output', call_id: call?.type === 'function_call' ? call.call_id : '', output: 'a bear' },
      ],
    });
    expect(answered.json.output).toMatchObject([{ type: 'message', content: [{ text: 'Echo: tool result: a bear' }] }]);
  });

  it('calls a custom (freeform) tool with the text as its input', async () => {
    const { json } = await post('/v1/responses', {
      model: 'gpt-4.1-mini',
      input: 'patch this',
      tools: [{ type: 'custom', name: 'apply_patch' }],
      tool_choice: { type: 'custom', name: 'apply_patch' },
    });
    expect(json.output).toMatchObject([{ type: 'custom_tool_call', name: 'apply_patch', input: 'patch this' }]);
  });

  it('reasons when asked, with encrypted content for stateless turns, and bills it as reasoning tokens', async () => {
    const { json } = await post('/v1/responses', {
      model: 'o4-mini',
      input: 'think hard',
      store: false,
      reasoning: { effort: 'low', summary: 'auto' },
      include: ['reasoning.encrypted_content'],
    });
    expect(json.output).toMatchObject([
      {
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: 'Thinking about: think hard' }],
        encrypted_content: expect.any(String),
      },
      { type: 'message', content: [{ text: 'Echo: think hard' }] },
    ]);
    expect(json.usage).toEqual({
      input_tokens: 2,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 4 },
      total_tokens: 9,
    });
  });

  it('takes Anthropic messages with a mid-conversation system message, refuses another role', async () => {
    const ok = await post(
      '/v1/messages?beta=true',
      {
        model: 'claude-opus-4-5',
        max_tokens: 100,
        messages: [
          { role: 'user', content: 'hi there' },
          { role: 'system', content: [{ type: 'text', text: 'be brief' }] },
        ],
      },
      anthropic,
    );
    expect([ok.status, ok.json.content]).toEqual([200, [{ type: 'text', text: 'Echo: hi there' }]]);
    const bad = await post(
      '/v1/messages',
      { model: 'claude-opus-4-5', max_tokens: 100, messages: [{ role: 'tool', content: 'x' }] },
      anthropic,
    );
    expect(bad).toEqual({
      status: 400,
      json: {
        type: 'error',
        error: {
          type: 'invalid_request_error',
          message: "messages.0.role: Input should be 'user', 'assistant' or 'system'",
        },
      },
    });
  });

  it('refuses a thinking budget under 1024 or not under max_tokens, as Anthropic does', async () => {
    const ask = (budget: number) =>
      post(
        '/v1/messages',
        {
          model: 'claude-opus-4-5',
          max_tokens: 2000,
          thinking: { type: 'enabled', budget_tokens: budget },
          messages: [{ role: 'user', content: 'x' }],
        },
        anthropic,
      );
    expect((await ask(500)).json.error).toEqual({
      type: 'invalid_request_error',
      message: 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024',
    });
    expect((await ask(2000)).json.error).toEqual({
      type: 'invalid_request_error',
      message: '`max_tokens` must be greater than `thinking.budget_tokens`',
    });
    expect((await ask(1024)).status).toBe(200);
  });

  it('writes the prompt cache at a cache_control breakpoint, then reads it, 1-hour writes apart', async () => {
    const ask = (question: string) =>
      post(
        '/v1/messages',
        {
          model: 'claude-opus-4-5',
          max_tokens: 100,
          system: [
            { type: 'text', text: 'five words of system prompt', cache_control: { type: 'ephemeral', ttl: '1h' } },
          ],
          messages: [{ role: 'user', content: question }],
        },
        anthropic,
      );
    expect((await ask('first question')).json.usage).toMatchObject({
      input_tokens: 2,
      cache_creation_input_tokens: 5,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 5 },
    });
    expect((await ask('second question')).json.usage).toMatchObject({
      input_tokens: 2,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 5,
    });
  });

  it('counts tokens and lists models in Anthropic’s shapes', async () => {
    const counted = await post(
      '/v1/messages/count_tokens',
      { model: 'claude-opus-4-5', system: 'be brief', messages: [{ role: 'user', content: 'three words here' }] },
      anthropic,
    );
    expect(counted).toEqual({ status: 200, json: { input_tokens: 5 } });
    const models = await fetch(`${mock.url}/models`, { headers: anthropic });
    expect(await models.json()).toMatchObject({
      data: expect.arrayContaining([expect.objectContaining({ type: 'model', id: 'claude-opus-4-5' })]),
      has_more: false,
    });
  });

  it('answers Gemini countTokens, thinkingConfig and a cachedContent with their usage counts', async () => {
    const key = { 'x-goog-api-key': 'AIza-test' };
    const counted = await post(
      '/v1beta/models/gemini-2.5-flash:countTokens',
      { contents: [{ role: 'user', parts: [{ text: 'three words here' }] }] },
      key,
    );
    expect(counted).toEqual({ status: 200, json: { totalTokens: 3 } });
    const cache = await post(
      '/v1beta/cachedContents',
      { model: 'models/gemini-2.5-flash', contents: [{ role: 'user', parts: [{ text: 'a long shared document' }] }] },
      key,
    );
    expect(cache.json).toMatchObject({
      name: expect.stringMatching(/^cachedContents\//),
      usageMetadata: { totalTokenCount: 4 },
    });
    const { json } = await post(
      '/v1beta/models/gemini-2.5-flash:generateContent',
      {
        contents: [{ role: 'user', parts: [{ text: 'sum it up' }] }],
        cachedContent: cache.json.name,
        generationConfig: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } },
      },
      key,
    );
    expect(json.candidates).toMatchObject([
      { content: { parts: [{ text: 'Thinking about: sum it up', thought: true }, { text: 'Echo: sum it up' }] } },
    ]);
    expect(json.usageMetadata).toEqual({
      promptTokenCount: 7,
      cachedContentTokenCount: 4,
      candidatesTokenCount: 4,
      thoughtsTokenCount: 5,
      totalTokenCount: 16,
    });
  });
});
