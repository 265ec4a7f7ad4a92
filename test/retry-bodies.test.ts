// Retry count and body logging end to end through the SDK.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
/** Upstream fails `times` times with `status` for this test only, then answers. */
const failing = (status: number, times: number, retryAfter = '0') => ({
  'x-mock-status': String(status),
  'x-mock-fail-times': String(times),
  'x-mock-fail-key': randomBytes(6).toString('hex'),
  'x-mock-retry-after': retryAfter,
});
const statuses = (record: { attempts: { status: number | null }[] }) => record.attempts.map((a) => a.status);

describe('Retry count', () => {
  it('retries 503 answers as often as the setting allows and records every attempt', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 2 } });
    const { data, response } = await stack
      .client(key)
      .chat.completions.create(chat, { headers: failing(503, 2) })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hi');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.status).toBe(200);
    expect(statuses(record)).toEqual([503, 503, 200]);
  });

  it.each([408, 409, 429, 500])('retries %i by header', async (status) => {
    const { key } = await stack.createConnection();
    const { response } = await stack
      .client(key)
      .chat.completions.create(chat, { headers: { ...failing(status, 1), 'x-usagepanda-retry-count': '1' } })
      .withResponse();
    expect(statuses(await stack.record(response.headers.get('x-usagepanda-request-id')))).toEqual([status, 200]);
  });

  it('gives upstream’s error to the client when the retries run out', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 1 } });
    const err = await apiError(stack.client(key).chat.completions.create(chat, { headers: failing(429, 5) }));
    expect(err.status).toBe(429);
    expect(statuses(await stack.record(err.headers?.get('x-usagepanda-request-id')))).toEqual([429, 429]);
  });

  it('does not retry a 400, nor without a retry count', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 3 } });
    const err = await apiError(stack.client(key).chat.completions.create(chat, { headers: failing(400, 5) }));
    expect(statuses(await stack.record(err.headers?.get('x-usagepanda-request-id')))).toEqual([400]);
    const plain = await stack.createConnection();
    const once = await apiError(stack.client(plain.key).chat.completions.create(chat, { headers: failing(503, 5) }));
    expect(statuses(await stack.record(once.headers?.get('x-usagepanda-request-id')))).toEqual([503]);
  });

  it('honours Retry-After: one longer than the gateway waits ends the retries', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 3 } });
    const err = await apiError(stack.client(key).chat.completions.create(chat, { headers: failing(503, 5, '120') }));
    expect(err.status).toBe(503);
    expect(statuses(await stack.record(err.headers?.get('x-usagepanda-request-id')))).toEqual([503]);
  });

  it('retries network errors and answers 502 when they persist', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 1 } });
    const err = await apiError(
      stack.client(key).chat.completions.create(chat, { headers: { 'x-mock-fault': 'reset' } }),
    );
    expect(err.status).toBe(502);
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(statuses(record)).toEqual([null, null]);
    expect(record.attempts[0]?.error).toMatch(/^Usage Panda: upstream unreachable/);
  });

  it('retries before a stream starts, so the client reads one whole stream', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 1 } });
    const { data: stream, response } = await stack
      .client(key)
      .chat.completions.create({ ...chat, stream: true }, { headers: failing(500, 1) })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Echo: hi');
    expect(statuses(await stack.record(response.headers.get('x-usagepanda-request-id')))).toEqual([500, 200]);
  });

  it('refuses a retry count above the connection’s when header overrides are locked, and takes a lower one', async () => {
    const { key } = await stack.createConnection({ policy: { retryCount: 1, allowHeaderOverrides: false } });
    const err = await apiError(
      stack.client(key).chat.completions.create(chat, { headers: { 'x-usagepanda-retry-count': '3' } }),
    );
    expect(err.status).toBe(422);
    const description = 'Config does not allow header overrides: x-usagepanda-retry-count';
    expect((err.error as { message?: string }).message).toBe(`Usage Panda: ${description}`);
    const refused = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(refused).toMatchObject({ status: 422, flags: [{ type: 'policy_header_override', description }] });
    expect(refused.attempts).toEqual([]);

    const fewer = await apiError(
      stack
        .client(key)
        .chat.completions.create(chat, { headers: { ...failing(503, 1), 'x-usagepanda-retry-count': '0' } }),
    );
    expect(fewer.status).toBe(503);
    const record = await stack.record(fewer.headers?.get('x-usagepanda-request-id'));
    expect(statuses(record)).toEqual([503]);
    expect(record.flags).toEqual([]);
  });

  it('answers 400 naming the header for a count above 5', async () => {
    const { key } = await stack.createConnection();
    const err = await apiError(
      stack.client(key).chat.completions.create(chat, { headers: { 'x-usagepanda-retry-count': '6' } }),
    );
    expect(err.status).toBe(400);
    expect((err.error as { message?: string }).message).toBe(
      'Usage Panda: invalid x-usagepanda-retry-count header: expected a whole number from 0 to 5',
    );
  });
});

describe('Log request and response bodies', () => {
  it('keeps no bodies by default', async () => {
    const { key } = await stack.createConnection();
    const { response } = await stack.client(key).chat.completions.create(chat).withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ requestBody: null, responseBody: null });
  });

  it('keeps the forwarded request (redacted) and the answer sent when the settings are on', async () => {
    const { key } = await stack.createConnection({
      policy: { logRequestBody: true, logResponseBody: true, requestWordlists: { profanity: 'redact' } },
    });
    const { response } = await stack
      .client(key)
      .chat.completions.create({ ...chat, messages: [{ role: 'user', content: 'oh shit' }] })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(JSON.parse(record.requestBody ?? '')).toMatchObject({ messages: [{ role: 'user', content: 'oh ****' }] });
    expect(JSON.parse(record.responseBody ?? '').choices[0].message.content).toBe('Echo: oh ****');
  });

  it('keeps a streamed answer as sent, by header', async () => {
    const { key } = await stack.createConnection();
    const { data: stream, response } = await stack
      .client(key)
      .chat.completions.create({ ...chat, stream: true }, { headers: { 'x-usagepanda-log-response': 'true' } })
      .withResponse();
    for await (const _ of stream) {
      // drain
    }
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.responseBody).toContain('"content":"Echo: "');
    expect(record.responseBody?.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(record.requestBody).toBeNull();
  });

  it.each([
    ['x-usagepanda-log-request', 'logRequestBody'],
    ['x-usagepanda-log-response', 'logResponseBody'],
  ])(
    'refuses %s: false when the connection keeps the body and header overrides are locked',
    async (header, setting) => {
      const { key } = await stack.createConnection({ policy: { [setting]: true, allowHeaderOverrides: false } });
      const err = await apiError(stack.client(key).chat.completions.create(chat, { headers: { [header]: 'false' } }));
      expect(err.status).toBe(422);
      const description = `Config does not allow header overrides: ${header}`;
      expect((err.error as { message?: string }).message).toBe(`Usage Panda: ${description}`);
      const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
      expect(record).toMatchObject({ status: 422, flags: [{ type: 'policy_header_override', description }] });
    },
  );

  it('keeps the bodies by header on a locked connection that keeps none: keeping more loosens nothing', async () => {
    const { key } = await stack.createConnection({ policy: { allowHeaderOverrides: false } });
    const { response } = await stack
      .client(key)
      .chat.completions.create(chat, {
        headers: { 'x-usagepanda-log-request': 'true', 'x-usagepanda-log-response': 'true' },
      })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.flags).toEqual([]);
    expect(JSON.parse(record.requestBody ?? '')).toMatchObject(chat);
    expect(JSON.parse(record.responseBody ?? '').choices[0].message.content).toBe('Echo: hi');
  });

  it('never keeps embedding vectors', async () => {
    const { key } = await stack.createConnection({ policy: { logResponseBody: true } });
    const { response } = await stack
      .client(key)
      .embeddings.create({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'float' })
      .withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    const logged = JSON.parse(record.responseBody ?? '');
    expect(logged.data[0].embedding).toMatch(/^\[embedding of \d+ numbers not logged\]$/);
  });
});
