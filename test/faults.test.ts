// Bad input and faults end cleanly (issue 15, items 9 to 13): Expect: 100-continue, deep JSON,
// malformed headers, oversized and broken upstream answers, and timeouts, each a clear
// answer in OpenAI's shape with a log record, on a gateway that keeps serving.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { errors as undiciErrors } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamFailure } from '../src/proxy/forward.js';
import { fakeProviderKey, readJson, type Stack, startStack } from './harness.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Whether the gateway sent `100 Continue` before the body went out. */
  continued: boolean;
}

/** A request as curl sends a large upload: headers with `Expect: 100-continue`, the body only after `100 Continue`. */
function postExpectingContinue(url: string, headers: Record<string, string>, body: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = httpRequest(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${fakeProviderKey()}`,
        ...headers,
        expect: '100-continue',
        'content-length': String(body.length),
      },
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
          continued,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** A multipart upload as `curl -F file=@audio.mp3 -F model=whisper-1` builds it. */
function audioUpload(fileBytes: number): { contentType: string; body: Buffer } {
  const boundary = '------------------------d74496d66958873e';
  const audio = Buffer.alloc(fileBytes, 0x41);
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="audio.mp3"\r\nContent-Type: audio/mpeg\r\n\r\n`,
    ),
    audio,
    Buffer.from(
      `\r\n--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}--\r\n`,
    ),
  ]);
  return { contentType: `multipart/form-data; boundary=${boundary}`, body };
}

describe('Expect: 100-continue', () => {
  it('answers the continue itself and forwards a 1.5 MB upload without the expect header', async () => {
    const { key } = await stack.createConnection();
    const upload = audioUpload(1_500_000);
    const answer = await postExpectingContinue(
      `${stack.gateway.url}/v1/audio/transcriptions`,
      { 'x-usagepanda-api-key': key, 'content-type': upload.contentType },
      upload.body,
    );
    expect(answer.continued).toBe(true);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toHaveProperty('text');
    const received = stack.mock.requests.at(-1);
    expect(received?.path).toBe('/v1/audio/transcriptions');
    expect(received?.headers.expect).toBeUndefined();
    expect(received?.body.equals(upload.body)).toBe(true);
    const record = await stack.record(String(answer.headers['x-usagepanda-request-id']));
    expect(record).toMatchObject({ status: 200, error: null, operation: 'audio', model: 'whisper-1' });
  });

  it('works for a JSON body as well', async () => {
    const { key } = await stack.createConnection();
    const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    const answer = await postExpectingContinue(
      `${stack.gateway.url}/v1/chat/completions`,
      { 'x-usagepanda-api-key': key, 'content-type': 'application/json' },
      body,
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text).choices[0].message.content).toBe('Echo: hi');
  });
});

describe('deeply nested JSON', () => {
  const deepMessage = 'Usage Panda: request body nests objects and arrays deeper than 128 levels';
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const post = (key: string, body: string) =>
    fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'x-usagepanda-api-key': key,
        authorization: `Bearer ${fakeProviderKey()}`,
        'content-type': 'application/json',
      },
      body,
    });

  it('refuses a million levels with a 400, recorded, and keeps serving', async () => {
    const { key } = await stack.createConnection();
    const response = await post(key, nested(1_000_000));
    expect(response.status).toBe(400);
    expect(await readJson(response)).toEqual({
      error: { message: deepMessage, type: 'invalid_request', param: null, code: null },
    });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 400, error: deepMessage, operation: 'chat' });
    expect((await stack.client(key).models.list()).data.length).toBeGreaterThan(0);
  });

  it('refuses 20,000 levels inside a streamed chat request with a 400, not a 500', async () => {
    const { key } = await stack.createConnection();
    const body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"metadata":${nested(20_000)}}`;
    const response = await post(key, body);
    expect(response.status).toBe(400);
    expect((await readJson(response)).error.message).toBe(deepMessage);
  });

  it('passes a body nested exactly 128 levels, brackets in strings not counted', async () => {
    const { key } = await stack.createConnection();
    // The body, tools, the tool and its function are 4 levels; its parameters the other 124.
    const parameters = JSON.parse(`${'{"a":'.repeat(123)}{}${'}'.repeat(123)}`);
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `${'['.repeat(500)}` }],
      tools: [{ type: 'function', function: { name: 'f', parameters } }],
    });
    const response = await post(key, body);
    expect(response.status).toBe(200);
    expect((await readJson(response)).choices[0].message.content).toBe(`Echo: ${'['.repeat(500)}`);
    const tooDeep = body.replace('{}', '{"b":{}}');
    expect((await post(key, tooDeep)).status).toBe(400);
  });
});

/** Sends bytes as they are (no client would send these) and reads until the gateway closes. */
function sendRaw(url: string, bytes: string): Promise<{ statusLine: string; headers: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const end = text.indexOf('\r\n\r\n');
      const head = text.slice(0, end);
      resolve({
        statusLine: head.slice(0, head.indexOf('\r\n')),
        headers: head.toLowerCase(),
        body: text.slice(end + 4),
      });
    });
  });
}

describe('a malformed request', () => {
  const malformed = (reason: string) => ({
    error: {
      message: `Usage Panda: malformed HTTP request: ${reason}`,
      type: 'invalid_request',
      param: null,
      code: null,
    },
  });
  const cases = [
    ['a bare CR inside a header value', 'X-Test: a\rb\r\n', 'Missing expected LF after header value'],
    ['a NUL inside a header value', 'X-Test: a\0b\r\n', 'Invalid header value char'],
    [
      'a header folded onto a second line (obs-fold)',
      'X-Test: a\r\n b\r\n',
      'Unexpected whitespace after header value',
    ],
    ['a bare LF ending a header line', 'X-Test: a\nX-Other: b\r\n', 'Missing expected CR after header value'],
  ] as const;

  for (const [what, header, reason] of cases) {
    for (const path of ['/v1/models', '/api/connections']) {
      it(`with ${what} is a 400 in OpenAI's shape on ${path}`, async () => {
        const answer = await sendRaw(stack.gateway.url, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${header}\r\n`);
        expect(answer.statusLine).toBe('HTTP/1.1 400 Bad Request');
        expect(answer.headers).toContain('content-type: application/json');
        expect(JSON.parse(answer.body)).toEqual(malformed(reason));
      });
    }
  }

  it("with headers over the size limit is a 431 in OpenAI's shape", async () => {
    const answer = await sendRaw(
      stack.gateway.url,
      `GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(answer.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(JSON.parse(answer.body)).toEqual({
      error: { message: 'Usage Panda: request headers too large', type: 'invalid_request', param: null, code: null },
    });
  });

  it("with the CONNECT method (a proxy tunnel) is a 405 in OpenAI's shape, not a silent close", async () => {
    for (const path of ['/v1/models', '/api/connections', 'example.com:443']) {
      const answer = await sendRaw(stack.gateway.url, `CONNECT ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      expect(answer.statusLine).toBe('HTTP/1.1 405 Method Not Allowed');
      expect(JSON.parse(answer.body)).toEqual({
        error: {
          message: 'Usage Panda: CONNECT is not supported: this is not a forward proxy',
          type: 'invalid_request',
          param: null,
          code: null,
        },
      });
    }
  });

  it("with an undecodable URL outside /v1 is a 400 in OpenAI's shape", async () => {
    const response = await fetch(`${stack.gateway.url}/api/%zz`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(response.status).toBe(400);
    expect(await readJson(response)).toEqual({
      error: {
        message: "Usage Panda: '/api/%zz' is not a valid url component",
        type: 'invalid_request',
        param: null,
        code: null,
      },
    });
  });

  it('leaves the gateway serving', async () => {
    const { key } = await stack.createConnection();
    expect((await stack.client(key).models.list()).data.length).toBeGreaterThan(0);
  });
});

describe('the admin API', () => {
  it('answers a 100 MB body with a 413, not a 400', async () => {
    const response = await fetch(`${stack.gateway.url}/api/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(100 * 1024 * 1024) }),
    });
    expect(response.status).toBe(413);
    expect(await readJson(response)).toEqual({
      error: {
        message: `Usage Panda: request body exceeds ${32 * 1024 * 1024} bytes`,
        type: 'invalid_request',
        param: null,
        code: null,
      },
    });
  });

  it('keeps the status of other refusals of the HTTP layer, e.g. 415', async () => {
    const response = await fetch(`${stack.gateway.url}/api/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'text/x-unknown' },
      body: 'name=x',
    });
    expect(response.status).toBe(415);
    expect(await readJson(response)).toEqual({
      error: {
        message: 'Usage Panda: Unsupported Media Type',
        type: 'invalid_request',
        param: null,
        code: null,
      },
    });
  });
});

describe("upstream's JSON answer", () => {
  let bounded: Stack;
  beforeAll(async () => {
    bounded = await startStack({ maxJsonAnswerBytes: 1_000_000 });
  });
  afterAll(() => bounded?.close());

  const chat = (headers: Record<string, string>, key: string) =>
    fetch(`${bounded.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'x-usagepanda-api-key': key,
        authorization: `Bearer ${fakeProviderKey()}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
  const tooLarge = {
    error: {
      message: "Usage Panda: upstream's JSON answer exceeds 1000000 bytes (the gateway's maxJsonAnswerBytes)",
      type: 'upstream_error',
      param: null,
      code: null,
    },
  };

  it('over maxJsonAnswerBytes, sent without a length, is a 502 that says why, recorded', async () => {
    const { key } = await bounded.createConnection();
    const response = await chat({ 'x-mock-json-bytes': '3000000', 'x-mock-chunked': 'true' }, key);
    expect(response.status).toBe(502);
    expect(await readJson(response)).toEqual(tooLarge);
    const record = await bounded.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 502, error: tooLarge.error.message, operation: 'chat' });
  });

  it('over maxJsonAnswerBytes by its content-length is refused before it is read', async () => {
    const { key } = await bounded.createConnection();
    const response = await chat({ 'x-mock-json-bytes': '1000001' }, key);
    expect(response.status).toBe(502);
    expect(await readJson(response)).toEqual(tooLarge);
  });

  it('at maxJsonAnswerBytes passes whole', async () => {
    const { key } = await bounded.createConnection();
    const response = await chat({ 'x-mock-json-bytes': '1000000', 'x-mock-chunked': 'true' }, key);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.length).toBe(1_000_000);
    expect(JSON.parse(text).object).toBe('mock.padding');
  });

  it('that breaks off in the middle is a 502, not a 500, recorded', async () => {
    const { key } = await bounded.createConnection();
    const response = await chat({ 'x-mock-fault': 'reset-mid-json' }, key);
    expect(response.status).toBe(502);
    const message = "Usage Panda: upstream's answer broke off (UND_ERR_SOCKET)";
    expect(await readJson(response)).toEqual({ error: { message, type: 'upstream_error', param: null, code: null } });
    const record = await bounded.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 502, error: message });
    expect((await bounded.client(key).models.list()).data.length).toBeGreaterThan(0);
  });
});

describe('timeouts', () => {
  let timed: Stack;
  beforeAll(async () => {
    // Short timeouts against a mock that stalls: nothing here waits long. undici checks the
    // first-byte and idle timeouts on a timer that ticks about twice a second, so they fire
    // up to a second late; the totals below leave room for that.
    timed = await startStack({
      upstreamFirstByteTimeoutMs: 200,
      upstreamIdleTimeoutMs: 1_000,
      upstreamTotalTimeoutMs: 3_000,
      clientBodyTimeoutMs: 200,
    });
  });
  afterAll(() => timed?.close());

  const timedOut = (reason: string) => ({
    message: `Usage Panda: upstream timed out: ${reason}`,
    type: 'upstream_error',
    param: null,
    code: null,
  });
  const FIRST_BYTE = 'no answer within the first-byte timeout (upstreamFirstByteTimeoutMs)';
  const IDLE = 'the answer stalled longer than the idle timeout (upstreamIdleTimeoutMs)';

  const chat = (key: string, headers: Record<string, string>, extra: Record<string, unknown> = {}) =>
    fetch(`${timed.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'x-usagepanda-api-key': key,
        authorization: `Bearer ${fakeProviderKey()}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...extra }),
    });

  it('answers an upstream that never answers with a 504 after the first-byte timeout, recorded', async () => {
    const { key } = await timed.createConnection();
    const response = await chat(key, { 'x-mock-fault': 'hang' });
    expect(response.status).toBe(504);
    expect(await readJson(response)).toEqual({ error: timedOut(FIRST_BYTE) });
    const record = await timed.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 504, error: timedOut(FIRST_BYTE).message, costUsd: 0 });
    expect(record.attempts).toEqual([
      { provider: 'openai', status: null, error: timedOut(FIRST_BYTE).message, latencyMs: expect.any(Number) },
    ]);
  });

  it('ends a stream that stalls with an error event after the idle timeout, recorded as 504', async () => {
    const { key } = await timed.createConnection();
    const response = await chat(key, { 'x-mock-chunk-delay-ms': '60000' }, { stream: true });
    expect(response.status).toBe(200);
    const text = await response.text();
    const message = `${timedOut(IDLE).message} (mid-stream)`;
    expect(text).toContain('"content":""');
    expect(text.endsWith(`data: ${JSON.stringify({ error: { ...timedOut(IDLE), message } })}\n\n`)).toBe(true);
    const record = await timed.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 504, error: message, stream: true });
  });

  it("cuts the connection's total upstream time (policy upstreamTotalTimeoutMs) with a 504", async () => {
    const { key } = await timed.createConnection({ policy: { upstreamTotalTimeoutMs: 100 } });
    const response = await chat(key, { 'x-mock-fault': 'hang' });
    expect(response.status).toBe(504);
    const expected = timedOut(
      'the answer was not complete within the total timeout of 100 ms (upstreamTotalTimeoutMs)',
    );
    expect(await readJson(response)).toEqual({ error: expected });
    const record = await timed.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 504, error: expected.message });
  });

  it('bounds every retry together by the total timeout, not each attempt', async () => {
    const { key } = await timed.createConnection({ policy: { retryCount: 5 } });
    const response = await chat(key, { 'x-mock-fault': 'hang' });
    expect(response.status).toBe(504);
    const expected = timedOut(
      'the answer was not complete within the total timeout of 3000 ms (upstreamTotalTimeoutMs)',
    );
    expect(await readJson(response)).toEqual({ error: expected });
    const record = await timed.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.error).toBe(expected.message);
    // Six attempts of at least 200 ms with their backoff take over 5 s: the total cut them short.
    expect(record.attempts.length).toBeLessThan(6);
    for (const attempt of record.attempts) expect(attempt.error).toBe(timedOut(FIRST_BYTE).message);
  });

  it('ends a stream cut by the total timeout with an error event', async () => {
    const { key } = await timed.createConnection({ policy: { upstreamTotalTimeoutMs: 1_000 } });
    // 30 pieces 100 ms apart: never idle for long, but 3 s in all.
    const response = await chat(
      key,
      { 'x-mock-chunk-delay-ms': '100', 'x-mock-reply': 'word '.repeat(30), 'x-mock-chunks': '30' },
      { stream: true },
    );
    expect(response.status).toBe(200);
    const text = await response.text();
    const message = `${timedOut('the answer was not complete within the total timeout of 1000 ms (upstreamTotalTimeoutMs)').message} (mid-stream)`;
    expect(text).not.toContain('[DONE]');
    expect(text).toContain(JSON.stringify(message));
    const record = await timed.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 504, error: message });
  });

  it('answers a client that sends its body too slowly with a 408 and closes the connection', async () => {
    const { key } = await timed.createConnection();
    const answer = await new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>(
      (resolve, reject) => {
        const req = httpRequest(`${timed.gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'x-usagepanda-api-key': key, 'content-type': 'application/json', 'content-length': '1000' },
        });
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        });
        req.on('error', reject);
        // A tenth of the body, and then nothing: the gateway must not wait for the rest.
        req.write('{"model":"gpt-4o-mini","messages":[');
      },
    );
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe('close');
    const message = 'Usage Panda: request body not received within 200 ms (clientBodyTimeoutMs)';
    expect(JSON.parse(answer.text)).toEqual({ error: { message, type: 'invalid_request', param: null, code: null } });
    const record = await timed.record(String(answer.headers['x-usagepanda-request-id']));
    expect(record).toMatchObject({ status: 408, error: message, costUsd: 0 });
  });
});

describe('a slow body outside /v1', () => {
  it("is answered 408 in OpenAI's shape once the client body timeout passed", async () => {
    const slow = await startStack({ clientBodyTimeoutMs: 200 });
    try {
      const { hostname, port } = new URL(slow.gateway.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () =>
          // Signing in needs no token: a slow body here would otherwise hold the connection.
          socket.write(
            'POST /api/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tok',
          ),
        );
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          text += chunk;
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(text));
      });
      expect(answer.slice(0, answer.indexOf('\r\n'))).toBe('HTTP/1.1 408 Request Timeout');
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
        error: {
          message: 'Usage Panda: request not received in time (clientBodyTimeoutMs)',
          type: 'invalid_request',
          param: null,
          code: null,
        },
      });
    } finally {
      await slow.close();
    }
  });
});

describe('upstream timeouts in words', () => {
  it('names the connect timeout and its setting', () => {
    const failure = upstreamFailure(new undiciErrors.ConnectTimeoutError());
    expect(failure).toMatchObject({
      status: 504,
      message: 'Usage Panda: upstream timed out: no connection within the connect timeout (upstreamConnectTimeoutMs)',
    });
  });
});
