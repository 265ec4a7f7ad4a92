// /metrics: requests, tokens and cost per connection and model, the latency and overhead
// histograms, the log queue and the store's write latency — read back from the real gateway
// after requests made with the official SDK, and checked against their stored records.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../src/domain.js';
import { createMetrics, MAX_MODEL_LABELS } from '../src/metrics.js';
import type { LogWriter } from '../src/store/log-writer.js';
import { logRecord } from './fixtures.js';
import { type Stack, startStack } from './harness.js';

let stack: Stack;
const records: LogRecord[] = [];

/** The value of one sample line, e.g. `name{label="x"}`; undefined when absent. */
const sample = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};
const scrape = async () => (await fetch(`${stack.gateway.url}/metrics`)).text();

beforeAll(async () => {
  stack = await startStack();
  const { key } = await stack.createConnection({ name: 'metered' });
  const client = stack.client(key);
  for (const content of ['one', 'two']) {
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
      .withResponse();
    records.push(await stack.record(response.headers.get('x-usagepanda-request-id')));
  }
  const { response } = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).withResponse();
  records.push(await stack.record(response.headers.get('x-usagepanda-request-id')));
});
afterAll(() => stack?.close());

describe('/metrics', () => {
  it('counts requests per connection, model, operation and status', async () => {
    const text = await scrape();
    expect(
      sample(
        text,
        'usage_panda_requests_total{connection="metered",model="gpt-4o-mini",operation="chat",status="200"}',
      ),
    ).toBe(2);
    expect(
      sample(
        text,
        'usage_panda_requests_total{connection="metered",model="text-embedding-3-small",operation="embedding",status="200"}',
      ),
    ).toBe(1);
  });

  it('counts tokens and cost per connection and model as the records have them', async () => {
    const text = await scrape();
    const chats = records.filter((r) => r.operation === 'chat');
    const sum = (pick: (r: LogRecord) => number | null) => chats.reduce((total, r) => total + (pick(r) ?? 0), 0);
    const labels = 'connection="metered",model="gpt-4o-mini"';
    expect(sum((r) => r.promptTokens)).toBeGreaterThan(0);
    expect(sample(text, `usage_panda_tokens_total{${labels},type="input"}`)).toBe(sum((r) => r.promptTokens));
    expect(sample(text, `usage_panda_tokens_total{${labels},type="output"}`)).toBe(sum((r) => r.completionTokens));
    expect(sum((r) => r.costUsd)).toBeGreaterThan(0);
    expect(sample(text, `usage_panda_cost_usd_total{${labels}}`)).toBeCloseTo(
      sum((r) => r.costUsd),
      12,
    );
  });

  it('has latency and overhead histograms; the overhead is the latency less the upstream call', async () => {
    const text = await scrape();
    expect(sample(text, 'usage_panda_request_duration_seconds_count{operation="chat"}')).toBe(2);
    expect(sample(text, 'usage_panda_overhead_duration_seconds_count{operation="chat"}')).toBe(2);
    const overhead = records
      .filter((r) => r.operation === 'chat')
      .reduce((total, r) => total + (r.latencyMs - (r.upstreamLatencyMs ?? 0)) / 1000, 0);
    expect(sample(text, 'usage_panda_overhead_duration_seconds_sum{operation="chat"}')).toBeCloseTo(overhead, 6);
    expect(sample(text, 'usage_panda_overhead_duration_seconds_bucket{le="+Inf",operation="chat"}')).toBe(2);
  });

  it('reports the log queue and the store write latency of its batches', async () => {
    await stack.gateway.logWriter.drain();
    const text = await scrape();
    expect(sample(text, 'usage_panda_log_queue_size')).toBe(0);
    expect(sample(text, 'usage_panda_log_records_dropped')).toBe(0);
    expect(sample(text, 'usage_panda_store_written_records_total')).toBe(records.length);
    expect(sample(text, 'usage_panda_store_write_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'usage_panda_store_write_duration_seconds_sum')).toBeGreaterThan(0);
  });
});

describe('metric labels and the queue gauges', () => {
  const stats = { queued: 7, written: 90, dropped: 3, failed: 1 };
  const metrics = () =>
    createMetrics({
      logWriter: () => ({ stats }) as unknown as LogWriter,
      clientConnections: () => 0,
      upstreamSockets: () => ({ inUse: 0, idle: 0 }),
    });

  it('labels at most MAX_MODEL_LABELS models and counts the rest as other', async () => {
    const m = metrics();
    for (let i = 0; i < MAX_MODEL_LABELS + 50; i++)
      m.observe(logRecord({ model: `made-up-${i}`, connectionName: 'c' }));
    const text = await m.registry.metrics();
    expect(sample(text, 'usage_panda_requests_total{connection="c",model="other",operation="chat",status="200"}')).toBe(
      50,
    );
    expect(text.match(/^usage_panda_requests_total\{/gm)).toHaveLength(MAX_MODEL_LABELS + 1);
  });

  it('shows the queue depth and the dropped and failed records of the log writer', async () => {
    const text = await metrics().registry.metrics();
    expect(sample(text, 'usage_panda_log_queue_size')).toBe(7);
    expect(sample(text, 'usage_panda_log_records_dropped')).toBe(3);
    expect(sample(text, 'usage_panda_log_records_failed')).toBe(1);
  });
});
