// The proxy end to end: authentication, forwarding, streams, errors and the log record.
import { connect, createServer } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, fakeProviderKey, readJson, type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ maxBodyBytes: 64 * 1024 });
});
afterAll(() => stack?.close());

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello there' }] };

async function rawPost(path: string, headers: Record<string, string>, body: string | Buffer) {
  const response = await fetch(`${stack.gateway.url}${path}`, { method: 'POST', headers, body });
  return { status: response.status, headers: response.headers, json: await readJson(response) };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

describe('proxy', () => {
  it('forwards a chat completion and records tokens, model, user agent, upstream id and timings', async () => {
    const { key, id } = await stack.createConnection();
    const { data, response } = await stack
      .client(key)
      .chat.completions.create({ ...chat, user: 'alice' }, { headers: { 'x-usagepanda-trace-id': 'trace_1-a' } })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hello there');
    expect(response.headers.get('x-usagepanda-overhead-ms')).toMatch(/^\d+(\.\d+)?$/);
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      connectionId: id,
      endpoint: '/chat/completions',
      operation: 'chat',
      model: 'gpt-4o-mini',
      stream: false,
      status: 200,
      error: null,
      endUser: 'alice',
      traceId: 'trace_1-a',
      promptTokens: data.usage?.prompt_tokens,
      completionTokens: data.usage?.completion_tokens,
      totalTokens: data.usage?.total_tokens,
      upstreamId: response.headers.get('x-request-id'),
      ip: '127.0.0.1',
      requestBody: null,
      responseBody: null,
    });
    expect(record.userAgent).toContain('OpenAI/JS');
    expect(record.upstreamLatencyMs).toBeGreaterThan(0);
    expect(record.latencyMs).toBeGreaterThanOrEqual(record.upstreamLatencyMs ?? 0);
  });

  it('strips x-usagepanda-* and hop-by-hop headers, forwards organization and project and the provider key', async () => {
    const { key } = await stack.createConnection();
    const providerKey = fakeProviderKey();
    stack.mock.reset();
    const client = new OpenAI({
      apiKey: providerKey,
      baseURL: `${stack.gateway.url}/v1`,
      organization: 'org-test',
      project: 'proj-test',
      maxRetries: 0,
      defaultHeaders: { 'x-usagepanda-api-key': key, 'x-usagepanda-trace-id': 't1' },
    });
    const { response } = await client.chat.completions.create(chat).withResponse();
    const forwarded = stack.mock.requests.at(-1);
    expect(forwarded?.headers.authorization).toBe(`Bearer ${providerKey}`);
    expect(forwarded?.headers['openai-organization']).toBe('org-test');
    expect(forwarded?.headers['openai-project']).toBe('proj-test');
    expect(Object.keys(forwarded?.headers ?? {}).filter((h) => h.startsWith('x-usagepanda'))).toEqual([]);
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.organization).toBe('org-test');
  });

  it('takes the Usage Panda key from Authorization: Bearer up-… and then uses the stored provider key', async () => {
    const storedKey = fakeProviderKey();
    const { key } = await stack.createConnection({ providerKey: storedKey });
    stack.mock.reset();
    const client = new OpenAI({ apiKey: key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create(chat);
    expect(answer.choices[0]?.message.content).toBe('Echo: hello there');
    expect(stack.mock.requests.at(-1)?.headers.authorization).toBe(`Bearer ${storedKey}`);
  });

  it('answers 401 when neither the client, the connection nor the environment has a provider key', async () => {
    const { key } = await stack.createConnection();
    const client = new OpenAI({ apiKey: key, baseURL: `${stack.gateway.url}/v1`, maxRetries: 0 });
    const err = await apiError(client.chat.completions.create(chat));
    expect(err.status).toBe(401);
    expect(err.error).toMatchObject({ type: 'access_denied', param: null, code: null });
    expect((err.error as { message: string }).message).toMatch(/^Usage Panda: no provider API key/);
  });

  it('works on paths without the /v1 prefix', async () => {
    const { key } = await stack.createConnection();
    const client = new OpenAI({
      apiKey: fakeProviderKey(),
      baseURL: stack.gateway.url,
      maxRetries: 0,
      defaultHeaders: { 'x-usagepanda-api-key': key },
    });
    const answer = await client.chat.completions.create(chat);
    expect(answer.choices[0]?.message.content).toBe('Echo: hello there');
  });

  it('relays a streamed chat in order and records the usage of its final chunk', async () => {
    const { key } = await stack.createConnection();
    const stream = await stack
      .client(key)
      .chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream.data) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Echo: hello there');
    expect(usage?.total_tokens).toBeGreaterThan(0);
    const record = await stack.record(stream.response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      stream: true,
      status: 200,
      promptTokens: usage?.prompt_tokens,
      completionTokens: usage?.completion_tokens,
      totalTokens: usage?.total_tokens,
    });
  });

  it('relays a long stream whole (5000 chunks)', async () => {
    const { key } = await stack.createConnection();
    const stream = await stack
      .client(key, { headers: { 'x-mock-chunks': '5000' } })
      .chat.completions.create({ ...chat, stream: true });
    let chunks = 0;
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) chunks++;
    expect(chunks).toBe(5000);
  });

  it('ends the client stream with an error event and records a 502 when upstream drops mid-stream', async () => {
    const { key } = await stack.createConnection();
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-usagepanda-api-key': key,
        authorization: `Bearer ${fakeProviderKey()}`,
        'x-mock-fault': 'disconnect-mid-stream',
      },
      body: JSON.stringify({ ...chat, stream: true }),
    });
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toMatch(
      /data: \{"error":\{"message":"Usage Panda: upstream unreachable: [^"]*\(mid-stream\)","type":"upstream_error"/,
    );
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.status).toBe(502);
    expect(record.error).toContain('mid-stream');
  });

  it('passes upstream errors through with their status and records the message', async () => {
    const { key } = await stack.createConnection();
    const err = await apiError(
      stack
        .client(key, { headers: { 'x-mock-status': '429', 'x-mock-retry-after': '7' } })
        .chat.completions.create(chat),
    );
    expect(err.status).toBe(429);
    expect(err.headers?.get('retry-after')).toBe('7');
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.status).toBe(429);
    expect(record.error).toBeTruthy();
  });

  it('passes binary answers (speech) through intact', async () => {
    const { key } = await stack.createConnection();
    const body = { model: 'tts-1', voice: 'alloy' as const, input: 'hello' };
    const speech = await stack.client(key).audio.speech.create(body);
    const bytes = Buffer.from(await speech.arrayBuffer());
    expect(speech.headers.get('content-type')).toBe('audio/mpeg');
    // The same request straight to the upstream: the gateway must hand over exactly those bytes.
    const direct = await fetch(`${stack.mock.url}/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
      body: JSON.stringify(body),
    });
    const expected = Buffer.from(await direct.arrayBuffer());
    expect(expected.length).toBeGreaterThan(0);
    expect(bytes.equals(expected)).toBe(true);
  });

  it('answers 401 access_denied for a missing or unknown key, counted as a refusal rather than logged', async () => {
    const unknown = `up-${'A'.repeat(48)}`;
    for (const key of [unknown, 'nonsense']) {
      const err = await apiError(stack.client(key).chat.completions.create(chat));
      expect(err.status).toBe(401);
      expect(err.error).toEqual({
        message: 'Usage Panda: invalid or missing API key',
        type: 'access_denied',
        param: null,
        code: null,
      });
      await stack.gateway.logWriter.drain();
      expect(await stack.gateway.store.findLog(err.headers?.get('x-usagepanda-request-id') ?? '')).toBeUndefined();
    }
    const none = await rawPost('/v1/chat/completions', { 'content-type': 'application/json' }, JSON.stringify(chat));
    expect(none.status).toBe(401);
  });

  it('answers 403 for a disabled connection, and serves it again once enabled', async () => {
    const { key, id } = await stack.createConnection({ enabled: false });
    const err = await apiError(stack.client(key).chat.completions.create(chat));
    expect(err.status).toBe(403);
    expect(err.error).toEqual({
      message: 'Usage Panda: this API key is disabled',
      type: 'access_denied',
      param: null,
      code: null,
    });
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 403, connectionId: id });

    expect((await stack.admin('PATCH', `/api/connections/${id}`, { enabled: true })).status).toBe(200);
    const answer = await stack.client(key).chat.completions.create(chat);
    expect(answer.choices[0]?.message.content).toBe('Echo: hello there');
  });

  it('answers 400 for malformed JSON and for a wrong-shaped body, forwarding nothing', async () => {
    const { key } = await stack.createConnection();
    stack.mock.reset();
    const headers = { 'content-type': 'application/json', 'x-usagepanda-api-key': key, authorization: 'Bearer sk-x' };
    const malformed = await rawPost('/v1/chat/completions', headers, '{"model": "gpt-4o-mini",');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.type).toBe('invalid_request');
    expect(malformed.json.error.message).toMatch(/^Usage Panda: request body is not valid JSON/);
    const record = await stack.record(malformed.headers.get('x-usagepanda-request-id'));
    expect(record.status).toBe(400);

    const wrongUser = await rawPost('/v1/chat/completions', headers, JSON.stringify({ ...chat, user: 42 }));
    expect(wrongUser.status).toBe(400);
    expect(wrongUser.json.error.message).toMatch(/^Usage Panda: invalid request body: user: /);
    const array = await rawPost('/v1/chat/completions', headers, '[1,2]');
    expect(array.json.error.message).toBe('Usage Panda: request body must be a JSON object');
    expect(stack.mock.requests).toHaveLength(0);
  });

  it('answers 413 for a body over the limit, declared or streamed', async () => {
    const { key } = await stack.createConnection();
    const headers = { 'content-type': 'application/json', 'x-usagepanda-api-key': key, authorization: 'Bearer sk-x' };
    const big = JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] });
    const declared = await rawPost('/v1/chat/completions', headers, big);
    expect(declared.status).toBe(413);
    expect(declared.json.error).toEqual({
      message: `Usage Panda: request body exceeds ${64 * 1024} bytes`,
      type: 'invalid_request',
      param: null,
      code: null,
    });
    const record = await stack.record(declared.headers.get('x-usagepanda-request-id'));
    expect(record.status).toBe(413);

    const chunked = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('answers 400 for an invalid trace id', async () => {
    const { key } = await stack.createConnection();
    const err = await apiError(
      stack.client(key, { headers: { 'x-usagepanda-trace-id': 'has spaces!' } }).chat.completions.create(chat),
    );
    expect(err.status).toBe(400);
    expect((err.error as { message: string }).message).toMatch(/^Usage Panda: invalid x-usagepanda-trace-id header/);
  });

  it('answers 502 upstream_error when upstream is unreachable, and 504 when it times out', async () => {
    const port = await closedPort();
    const { key } = await stack.createConnection({ upstream: `http://127.0.0.1:${port}/v1` });
    const err = await apiError(stack.client(key).chat.completions.create(chat));
    expect(err.status).toBe(502);
    expect(err.error).toMatchObject({ type: 'upstream_error', param: null, code: null });
    expect((err.error as { message: string }).message).toMatch(/^Usage Panda: upstream unreachable: ECONNREFUSED/);
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.status).toBe(502);
  });

  it('answers a CORS preflight', async () => {
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'http://example.test', 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    // A relay between the gateway and the mock shows the gateway closing its upstream connection.
    let upstreamClosed = () => {};
    const closed = new Promise<void>((resolve) => {
      upstreamClosed = resolve;
    });
    const relay = createServer((incoming) => {
      const outgoing = connect(stack.mock.port, '127.0.0.1');
      incoming.pipe(outgoing).pipe(incoming);
      incoming.on('error', () => {});
      outgoing.on('error', () => {});
      incoming.on('close', () => {
        outgoing.destroy();
        upstreamClosed();
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const address = relay.address();
    if (typeof address !== 'object' || !address) throw new Error('no port');
    const { key } = await stack.createConnection({ upstream: `http://127.0.0.1:${address.port}/v1` });
    const controller = new AbortController();
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-usagepanda-api-key': key,
        authorization: 'Bearer sk-x',
        // Minutes of stream: only an aborted upstream request ends it within the test's time.
        'x-mock-chunks': '200',
        'x-mock-chunk-delay-ms': '60000',
      },
      body: JSON.stringify({ ...chat, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body?.getReader();
    await reader?.read();
    controller.abort();
    await closed;
    const record = await waitFor(() => stack.record(response.headers.get('x-usagepanda-request-id')));
    expect(record.error).toBe('client disconnected');
    await new Promise((resolve) => relay.close(resolve));
  });
});

async function waitFor<T>(attempt: () => Promise<T>, tries = 50): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
