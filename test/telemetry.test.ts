// OpenTelemetry traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, every proxied request arrives at an
// OTLP/HTTP receiver (started here on loopback) as one SERVER span with the GenAI attributes,
// its phases and upstream attempts as children; shutdown flushes what is buffered.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createRequestTracer, parseOtlpHeaders } from '../src/telemetry.js';
import { apiError, type Stack, startStack } from './harness.js';

/** An attribute as OTLP/JSON writes it. */
interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: OtlpValue }[];
  events?: { name: string; attributes: { key: string; value: OtlpValue }[] }[];
  status?: { code?: number; message?: string };
}

const plain = (value: OtlpValue): unknown => {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  return value.arrayValue?.values?.map(plain);
};
const attrs = (span: { attributes: { key: string; value: OtlpValue }[] }) =>
  Object.fromEntries(span.attributes.map((a) => [a.key, plain(a.value)]));
const ms = (nanos: string) => Number(BigInt(nanos) / 1000n) / 1000;

const exports: { headers: IncomingHttpHeaders; path: string; body: unknown }[] = [];
let receiver: Server;
let stack: Stack;
let key: string;
const answers: { id: string; kind: string }[] = [];
const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      exports.push({ headers: req.headers, path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;
  stack = await startStack(
    {},
    {
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20otlp-secret,x-tenant=panda',
        OTEL_SERVICE_NAME: 'gateway-under-test',
      },
    },
  );
  key = (await stack.createConnection({ name: 'traced', policy: { blockedModels: ['gpt-blocked'] } })).key;
  const client = stack.client(key);

  const chat = await client.chat.completions
    .create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], user: 'end-user-7' },
      { headers: { traceparent } },
    )
    .withResponse();
  answers.push({ id: chat.response.headers.get('x-usagepanda-request-id') ?? '', kind: 'chat' });

  const retried = await client.chat.completions
    .create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }], stream: true },
      {
        headers: {
          'x-usagepanda-retry-count': '1',
          'x-mock-status': '503',
          'x-mock-fail-times': '1',
          'x-mock-fail-key': randomBytes(6).toString('hex'),
        },
      },
    )
    .withResponse();
  for await (const _ of retried.data);
  answers.push({ id: retried.response.headers.get('x-usagepanda-request-id') ?? '', kind: 'retried' });

  const blocked = await apiError(
    client.chat.completions.create({ model: 'gpt-blocked', messages: [{ role: 'user', content: 'no' }] }),
  );
  answers.push({ id: blocked.headers?.get('x-usagepanda-request-id') ?? '', kind: 'blocked' });
  const unreachable = await apiError(
    client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'lost' }] },
      { headers: { 'x-mock-fault': 'reset', 'x-usagepanda-retry-count': '1' } },
    ),
  );
  expect(unreachable.status).toBe(502);
  answers.push({ id: unreachable.headers?.get('x-usagepanda-request-id') ?? '', kind: 'unreachable' });

  const refused = await apiError(
    stack.client('up-not-a-key').chat.completions.create({ model: 'gpt-4o-mini', messages: [] }),
  );
  expect(refused.status).toBe(401);
  // Shutdown exports what the batch processor still holds.
  await stack.close();
});
afterAll(async () => {
  await new Promise((resolve) => receiver?.close(resolve));
});

const allSpans = () =>
  exports.flatMap(
    (e) =>
      (e.body as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans.flatMap((r) =>
        r.scopeSpans.flatMap((s) => s.spans),
      ) ?? [],
  );
const requestSpan = (id: string) => {
  const span = allSpans().find((s) => attrs(s)['usage_panda.request_id'] === id);
  if (!span) throw new Error(`no span for ${id}`);
  return span;
};
const childrenOf = (span: OtlpSpan) => allSpans().filter((s) => s.parentSpanId === span.spanId);
const idOf = (kind: string) => answers.find((a) => a.kind === kind)?.id ?? '';

describe('OpenTelemetry traces', () => {
  it('exports to <endpoint>/v1/traces as OTLP/JSON with the configured headers and service name', () => {
    expect(exports.length).toBeGreaterThan(0);
    expect(exports[0]?.path).toBe('/v1/traces');
    expect(exports[0]?.headers['content-type']).toBe('application/json');
    expect(exports[0]?.headers.authorization).toBe('Bearer otlp-secret');
    expect(exports[0]?.headers['x-tenant']).toBe('panda');
    const body = exports[0]?.body as { resourceSpans: { resource: OtlpSpan }[] };
    const resource = body.resourceSpans[0]?.resource;
    expect(resource && attrs(resource)['service.name']).toBe('gateway-under-test');
  });

  it('makes one SERVER span per request with the GenAI and usage_panda attributes, in the client’s trace', () => {
    const span = requestSpan(idOf('chat'));
    expect(span.name).toBe('chat gpt-4o-mini');
    expect(span.kind).toBe(2); // SERVER
    expect(span.traceId).toBe(traceparent.split('-')[1]);
    expect(span.parentSpanId).toBe(traceparent.split('-')[2]);
    const a = attrs(span);
    expect(a).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini',
      'http.request.method': 'POST',
      'http.response.status_code': 200,
      'url.path': '/v1/chat/completions',
      'usage_panda.connection.name': 'traced',
      'usage_panda.end_user': 'end-user-7',
      'usage_panda.stream': false,
    });
    expect(a['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(a['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(a['usage_panda.cost_usd']).toBeGreaterThan(0);
    expect(typeof a['usage_panda.connection.id']).toBe('string');
  });

  it('has the request phase, the upstream call with its attempt and the response phase as children, in order', () => {
    const span = requestSpan(idOf('chat'));
    const children = childrenOf(span);
    expect(children.map((c) => c.name).sort()).toEqual(['request phase', 'response phase', 'upstream']);
    const byName = Object.fromEntries(children.map((c) => [c.name, c]));
    const start = ms(span.startTimeUnixNano);
    const end = ms(span.endTimeUnixNano);
    const request = byName['request phase'] as OtlpSpan;
    const upstream = byName.upstream as OtlpSpan;
    const response = byName['response phase'] as OtlpSpan;
    expect(ms(request.startTimeUnixNano)).toBe(start);
    expect(ms(request.endTimeUnixNano)).toBeLessThanOrEqual(ms(upstream.startTimeUnixNano));
    expect(ms(response.endTimeUnixNano)).toBe(end);
    const attempts = childrenOf(upstream);
    expect(attempts.map((a) => [a.name, a.kind, attrs(a)['http.response.status_code']])).toEqual([
      ['attempt 1', 3, 200], // CLIENT
    ]);
  });

  it('shows each retry as its own attempt span', () => {
    const span = requestSpan(idOf('retried'));
    expect(attrs(span)['usage_panda.stream']).toBe(true);
    const upstream = childrenOf(span).find((c) => c.name === 'upstream');
    if (!upstream) throw new Error('no upstream span');
    const attempts = childrenOf(upstream).sort((a, b) => a.name.localeCompare(b.name));
    expect(attempts.map((a) => [a.name, attrs(a)['http.response.status_code']])).toEqual([
      ['attempt 1', 503],
      ['attempt 2', 200],
    ]);
    expect(ms(attempts[0]?.endTimeUnixNano ?? '0')).toBeLessThanOrEqual(ms(attempts[1]?.startTimeUnixNano ?? '0'));
  });

  it('marks a blocked request as an error with its flag as an event, and no upstream span', () => {
    const span = requestSpan(idOf('blocked'));
    expect(span.status?.code).toBe(2); // ERROR
    expect(attrs(span)['http.response.status_code']).toBe(422);
    expect(attrs(span)['error.type']).toBe('422');
    expect(attrs(span)['usage_panda.flags']).toEqual(['policy_disabled_models']);
    expect(span.events?.map((e) => attrs(e)['usage_panda.flag.type'])).toEqual(['policy_disabled_models']);
    expect(childrenOf(span).map((c) => c.name)).toEqual(['request phase']);
  });
});

describe('upstream failures', () => {
  it('shows failed attempts as errors inside an upstream span that lasts to the end, and no response phase', () => {
    const span = requestSpan(idOf('unreachable'));
    expect(span.status?.code).toBe(2);
    expect(attrs(span)['http.response.status_code']).toBe(502);
    const children = childrenOf(span);
    expect(children.map((c) => c.name).sort()).toEqual(['request phase', 'upstream']);
    const upstream = children.find((c) => c.name === 'upstream');
    if (!upstream) throw new Error('no upstream span');
    expect(upstream.endTimeUnixNano).toBe(span.endTimeUnixNano);
    const attempts = childrenOf(upstream).sort((a, b) => a.name.localeCompare(b.name));
    expect(attempts.map((a) => [a.name, a.kind, a.status?.code])).toEqual([
      ['attempt 1', 3, 2],
      ['attempt 2', 3, 2],
    ]);
    for (const attempt of attempts) expect(attempt.status?.message).toMatch(/^Usage Panda: upstream unreachable/);
  });
});

describe('refused requests', () => {
  it('makes no span for a request refused for its key (counted, not logged)', () => {
    expect(allSpans().filter((s) => attrs(s)['http.response.status_code'] === 401)).toEqual([]);
    expect(allSpans().filter((s) => s.kind === 2)).toHaveLength(4);
  });
});

describe('without a receiver', () => {
  it('makes no tracer when no endpoint is set', async () => {
    const config = await loadConfig({ dataDir: '/nonexistent' }, {});
    expect(createRequestTracer(config)).toBeNull();
  });

  it('serves requests and shuts down when the receiver is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await startStack({}, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } });
    const { key } = await down.createConnection();
    const answer = await down
      .client(key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
    const started = Date.now();
    await down.close();
    // The exporter retries until its 5 s timeout, then gives up: shutdown is not held longer.
    expect(Date.now() - started).toBeLessThan(9_000);
  }, 20_000);
});

describe('OTLP headers', () => {
  it('reads name=value pairs with URL-encoded values and skips malformed ones', () => {
    expect(parseOtlpHeaders('a=1, b = x%3Dy ,broken,=nameless')).toEqual({ a: '1', b: 'x=y' });
  });
});
