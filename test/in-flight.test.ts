// Requests that do not finish: a client that leaves mid-stream, and a gateway that shuts down
// with requests in flight. Each still gets its record, saying what cut it, and /metrics shows
// the open connections on both sides.
import { rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogRecord } from '../src/domain.js';
import { openStore } from '../src/store/sql-store.js';
import { type Stack, startStack } from './harness.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

/** A chat request through the gateway that resolves once the answer's head (and for a stream its first event) arrived. */
function openRequest(
  stack: Stack,
  key: string,
  body: object,
  headers: Record<string, string>,
): Promise<{ response: IncomingMessage; request: ReturnType<typeof httpRequest>; ended: Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-usagepanda-api-key': key,
        authorization: 'Bearer sk-x',
        ...headers,
      },
    });
    request.on('error', reject);
    request.on('response', (response) => {
      const ended = new Promise((done) => response.once('end', done));
      response.once('data', () => resolve({ response, request, ended }));
      response.on('error', () => {});
    });
    request.end(JSON.stringify(body));
  });
}

/** Sends a request that upstream never answers; resolves once upstream has it. */
async function hangingRequest(stack: Stack, key: string): Promise<void> {
  const seen = stack.mock.requests.length;
  const request = httpRequest(`${stack.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-usagepanda-api-key': key,
      authorization: 'Bearer sk-x',
      'x-mock-fault': 'hang',
    },
  });
  request.on('error', () => {});
  request.end(JSON.stringify(chat));
  while (stack.mock.requests.length === seen) await new Promise((resolve) => setTimeout(resolve, 5));
}

const slowStream = { 'x-mock-chunks': '100', 'x-mock-chunk-delay-ms': '60000' };

/** Every record of a data dir, read after the gateway is gone. */
async function storedRecords(dataDir: string): Promise<LogRecord[]> {
  const store = await openStore({ dataDir });
  try {
    return (await store.queryLogs({}, { limit: 500 })).records;
  } finally {
    await store.close();
  }
}

/** The value of one metric sample in Prometheus text. */
async function metric(stack: Stack, sample: string): Promise<number> {
  const text = await (await fetch(`${stack.gateway.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  if (!line) throw new Error(`no sample ${sample} in /metrics`);
  return Number(line.slice(sample.length + 1));
}

let stack: Stack | undefined;
let stopped = false;
afterEach(async () => {
  if (stopped) await rm(stack?.dataDir ?? '', { recursive: true, force: true });
  else await stack?.close();
  stack = undefined;
  stopped = false;
});

/** Shuts the gateway down as SIGTERM does, keeping its data dir to read afterwards. */
async function shutDown(running: Stack): Promise<void> {
  stopped = true;
  await running.stop();
}

describe('requests that do not finish', () => {
  it('records a stream the client abandoned as 499, though its 200 head was sent', async () => {
    stack = await startStack();
    const { key } = await stack.createConnection();
    const { response, request } = await openRequest(stack, key, { ...chat, stream: true }, slowStream);
    expect(response.statusCode).toBe(200);
    const id = response.headers['x-usagepanda-request-id'] as string;
    const recorded = new Promise<void>((resolve) => response.socket.once('close', () => resolve()));
    request.destroy();
    await recorded;
    // The gateway hears of the close on its own side of the socket, a moment later.
    let record: LogRecord | undefined;
    while (!record) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      record = await stack.record(id).catch(() => undefined);
    }
    expect(record).toMatchObject({ status: 499, error: 'client disconnected', stream: true });
  });

  it('records every request in flight at shutdown, streams and unanswered ones, as cut by the shutdown', async () => {
    stack = await startStack({ shutdownGraceMs: 50 });
    const { key } = await stack.createConnection({ name: 'shutdown' });
    const streams = await Promise.all(
      Array.from({ length: 20 }, () => openRequest(stack as Stack, key, { ...chat, stream: true }, slowStream)),
    );
    for (let i = 0; i < 3; i++) await hangingRequest(stack, key);
    const streamIds = new Set(streams.map(({ response }) => response.headers['x-usagepanda-request-id']));

    await shutDown(stack);

    const records = await storedRecords(stack.dataDir);
    expect(records).toHaveLength(23);
    for (const record of records) {
      expect(record).toMatchObject({
        connectionName: 'shutdown',
        status: 503,
        error: 'Usage Panda: cut by gateway shutdown',
      });
    }
    expect(records.filter((record) => streamIds.has(record.id))).toHaveLength(20);
  });

  it('lets a request finish within the shutdown grace period and records it as it ended', async () => {
    stack = await startStack({ shutdownGraceMs: 60_000 });
    const { key } = await stack.createConnection();
    const { response, ended } = await openRequest(
      stack,
      key,
      { ...chat, stream: true },
      { 'x-mock-chunks': '5', 'x-mock-chunk-delay-ms': '100' },
    );
    const id = response.headers['x-usagepanda-request-id'] as string;
    response.resume();
    await Promise.all([shutDown(stack), ended]);
    const records = await storedRecords(stack.dataDir);
    expect(records).toMatchObject([{ id, status: 200, error: null }]);
  });

  it('shows open client connections, upstream sockets in use and the process metrics in /metrics', async () => {
    stack = await startStack();
    const { key } = await stack.createConnection();
    expect(await metric(stack, 'usage_panda_upstream_sockets{state="in_use"}')).toBe(0);
    // fetch keeps its connection open and asks again on it: the two streams add two.
    const before = await metric(stack, 'usage_panda_client_connections');
    const open = await Promise.all(
      [0, 1].map(() => openRequest(stack as Stack, key, { ...chat, stream: true }, slowStream)),
    );
    expect((await metric(stack, 'usage_panda_client_connections')) - before).toBe(2);
    expect(await metric(stack, 'usage_panda_upstream_sockets{state="in_use"}')).toBe(2);
    expect(await metric(stack, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(await metric(stack, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    for (const { request } of open) request.destroy();
  });
});
