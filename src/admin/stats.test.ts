// The stats endpoints through the admin API (Fastify inject) on SQLite and PostgreSQL:
// period-over-period change at the exact period boundaries, buckets aligned to a time zone
// (including one with a half-hour offset), models, users, and bad input.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { clearLogs, postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import { AutoReplyDirectory } from '../autoreplies/directory.js';
import { ConnectionDirectory } from '../connections/directory.js';
import type { LogRecord } from '../domain.js';
import { createSecretBox } from '../secrets/cipher.js';
import type { SqlStore } from '../store/sql-store.js';
import { adminApi } from './index.js';

const TOKEN = 'stats-test-admin-token';
const HOUR = 3_600_000;
/** 10:17 UTC: not on an hour, so the range edges come from raw records. */
const FROM = Date.UTC(2026, 4, 10, 10, 17);
const TO = FROM + 6 * HOUR;
const LENGTH = TO - FROM;

describe.each([sqliteStoreTarget(), postgresStoreTarget()])('stats API on $name', (target) => {
  let store: SqlStore;
  let app: FastifyInstance;
  beforeAll(async () => {
    store = await target.open();
    app = Fastify();
    const connections = new ConnectionDirectory(store, createSecretBox('0123456789abcdef0123456789abcdef'));
    await app.register(
      (scope) =>
        adminApi(scope, {
          store,
          connections,
          autoReplies: new AutoReplyDirectory(store),
          adminToken: { generated: null, verify: (t) => t === TOKEN },
        }),
      {
        prefix: '/api',
      },
    );
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await target.cleanup();
  });
  beforeEach(() => clearLogs(store));

  const get = async (url: string) => {
    const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: response.statusCode, json: response.json() };
  };
  const insert = (records: LogRecord[]) => store.insertLogs(records);

  it("answers a connection's alerts from its errors and unpriced records in the range", async () => {
    const burst = (i: number) =>
      logRecord({ ts: FROM + HOUR + i * 60_000, connectionId: 'conn_a', status: 502, error: 'bad gateway' });
    await insert([
      burst(0),
      burst(1),
      burst(2),
      logRecord({
        ts: FROM + 2 * HOUR,
        connectionId: 'conn_a',
        status: 422,
        error: 'blocked',
        flags: [{ type: 'policy_max_tokens', description: 'too many tokens' }],
      }),
      logRecord({ ts: FROM + 3 * HOUR, connectionId: 'conn_a', model: 'mystery-1', costUsd: null, totalTokens: 9 }),
      // Another connection's errors, and this connection's outside the range: not its alerts.
      logRecord({ ts: FROM + HOUR, connectionId: 'conn_b', status: 500, error: 'upstream' }),
      logRecord({ ts: TO + 1, connectionId: 'conn_a', status: 422, flags: [{ type: 'policy_x', description: 'x' }] }),
    ]);
    const { status, json } = await get(`/api/alerts?connection=conn_a&from=${FROM}&to=${TO}`);
    expect(status).toBe(200);
    expect(json.data.map((a: { kind: string; count: number }) => `${a.kind}:${a.count}`).sort()).toEqual([
      'blocked_requests:1',
      'unknown_price:1',
      'upstream_errors:3',
    ]);
  });

  it('compares with the period of equal length right before, counting each boundary record once', async () => {
    await insert([
      logRecord({ ts: FROM - LENGTH - 1, costUsd: 100, totalTokens: 100 }), // before both periods
      logRecord({ ts: FROM - LENGTH, costUsd: 1, totalTokens: 10 }), // first instant of previous
      logRecord({ ts: FROM - 1, costUsd: 1, totalTokens: 10, status: 502, error: 'bad gateway' }), // last of previous
      logRecord({ ts: FROM, costUsd: 2, totalTokens: 10 }), // first instant of current
      logRecord({ ts: FROM + 2 * HOUR, costUsd: 2, totalTokens: 15 }),
      logRecord({ ts: TO - 1, costUsd: 2, totalTokens: 5 }), // last instant of current
      logRecord({ ts: TO, costUsd: 100, totalTokens: 100 }), // `to` is exclusive
    ]);
    const { status, json } = await get(`/api/stats/summary?from=${FROM}&to=${TO}`);
    expect(status).toBe(200);
    expect(json.current).toEqual({ requests: 3, costUsd: 6, tokens: 30, successRate: 1 });
    expect(json.previous).toEqual({ requests: 2, costUsd: 2, tokens: 20, successRate: 0.5 });
    expect(json.change.requests).toBeCloseTo(0.5, 12);
    expect(json.change.costUsd).toBeCloseTo(2, 12);
    expect(json.change.tokens).toBeCloseTo(0.5, 12);
    expect(json.change.successRate).toBeCloseTo(0.5, 12);
    // Hourly sparkline for a 6-hour range: 7 buckets from 10:00 (the hour holding `from`) to 16:00.
    expect(json.series).toHaveLength(7);
    expect(json.series[0]).toMatchObject({ ts: Date.UTC(2026, 4, 10, 10), requests: 1, costUsd: 2 });
    expect(json.series.reduce((sum: number, b: { requests: number }) => sum + b.requests, 0)).toBe(3);
  });

  it('reports no change when the previous period had nothing', async () => {
    await insert([logRecord({ ts: FROM + HOUR })]);
    const { json } = await get(`/api/stats/summary?from=${FROM}&to=${TO}`);
    expect(json.previous).toEqual({ requests: 0, costUsd: 0, tokens: 0, successRate: null });
    expect(json.change).toEqual({ requests: null, costUsd: null, tokens: null, successRate: null });
  });

  it('aligns day buckets to the named zone and lists every bucket, zeros included', async () => {
    const day = Date.UTC(2026, 4, 10);
    await insert([
      logRecord({ ts: day + 21.5 * HOUR, model: 'gpt-4o', costUsd: 1 }), // 23:30 in Berlin, May 10
      logRecord({ ts: day + 22.5 * HOUR, model: 'gpt-4o-mini', costUsd: 2 }), // 00:30 in Berlin, May 11
      logRecord({ ts: day + 22.5 * HOUR + 1, model: 'gpt-4o-mini', costUsd: 2 }),
    ]);
    const range = `from=${day - 2 * HOUR}&to=${day + 4 * 24 * HOUR}`;
    const berlin = await get(`/api/stats/timeseries?${range}&interval=day&split=model&tz=Europe/Berlin`);
    expect(berlin.status).toBe(200);
    expect(berlin.json.keys).toEqual(['gpt-4o-mini', 'gpt-4o']);
    expect(berlin.json.buckets.map((b: { start: string }) => b.start)).toEqual([
      '2026-05-09T22:00:00.000Z',
      '2026-05-10T22:00:00.000Z',
      '2026-05-11T22:00:00.000Z',
      '2026-05-12T22:00:00.000Z',
      '2026-05-13T22:00:00.000Z',
    ]);
    expect(berlin.json.buckets[0]).toMatchObject({
      total: { requests: 1, costUsd: 1 },
      values: { 'gpt-4o': { requests: 1 } },
    });
    expect(berlin.json.buckets[1]).toMatchObject({ total: { requests: 2, costUsd: 4 } });
    expect(berlin.json.buckets[2]).toMatchObject({ total: { requests: 0, costUsd: 0 }, values: {} });

    const utc = await get(`/api/stats/timeseries?${range}&interval=day&split=model`);
    expect(utc.json.tz).toBe('UTC');
    expect(utc.json.buckets[1]).toMatchObject({ start: '2026-05-10T00:00:00.000Z', total: { requests: 3 } });

    // India is UTC+5:30: its days start at 18:30 UTC, inside a rollup hour.
    const kolkata = await get(`/api/stats/timeseries?${range}&interval=day&tz=Asia/Kolkata`);
    expect(kolkata.json.buckets.map((b: { total: { requests: number } }) => b.total.requests).slice(0, 2)).toEqual([
      0, 3,
    ]);
    await insert([logRecord({ ts: day + 18.5 * HOUR - 1 }), logRecord({ ts: day + 18.5 * HOUR })]);
    const again = await get(`/api/stats/timeseries?${range}&interval=day&tz=Asia/Kolkata`);
    expect(again.json.buckets[0].start).toBe('2026-05-09T18:30:00.000Z');
    expect(again.json.buckets.map((b: { total: { requests: number } }) => b.total.requests).slice(0, 2)).toEqual([
      1, 4,
    ]);
  });

  it('sums per model, most requested first', async () => {
    await insert([
      logRecord({ ts: FROM + HOUR, model: 'a', promptTokens: 1, completionTokens: 2, totalTokens: 3, costUsd: 0.5 }),
      logRecord({ ts: FROM + 2 * HOUR, model: 'b', costUsd: null }),
      logRecord({ ts: FROM + 3 * HOUR, model: 'b', costUsd: 0.25 }),
    ]);
    const { json } = await get(`/api/stats/models?from=${FROM}&to=${TO}`);
    expect(json.data.map((m: { model: string }) => m.model)).toEqual(['b', 'a']);
    expect(json.data[1]).toEqual({
      model: 'a',
      requests: 1,
      promptTokens: 1,
      completionTokens: 2,
      totalTokens: 3,
      costUsd: 0.5,
    });
    expect(json.data[0].costUsd).toBe(0.25);
  });

  it('sums requests, tokens and cost per provider that answered, filtered by connection, edges from raw records', async () => {
    await insert([
      logRecord({
        ts: FROM,
        connectionId: 'c1',
        provider: 'anthropic',
        promptTokens: 20,
        completionTokens: 10,
        totalTokens: 30,
        costUsd: 0.5,
      }), // raw edge
      logRecord({
        ts: FROM + 2 * HOUR,
        connectionId: 'c1',
        provider: 'anthropic',
        promptTokens: 4,
        completionTokens: 6,
        totalTokens: 10,
        costUsd: 0.25,
      }),
      logRecord({ ts: FROM + 3 * HOUR, connectionId: 'c1', provider: 'gemini', totalTokens: 5, costUsd: null }),
      logRecord({ ts: FROM + 3 * HOUR, connectionId: 'c2', provider: 'openai', status: 502, error: 'bad gateway' }),
      logRecord({ ts: TO, connectionId: 'c1', provider: 'bedrock' }), // `to` is exclusive
    ]);
    const { status, json } = await get(`/api/stats/providers?from=${FROM}&to=${TO}`);
    expect(status).toBe(200);
    expect(json.data.map((p: { provider: string }) => p.provider)).toEqual(['anthropic', 'gemini', 'openai']);
    expect(json.data[0]).toEqual({
      provider: 'anthropic',
      requests: 2,
      errors: 0,
      promptTokens: 24,
      completionTokens: 16,
      totalTokens: 40,
      costUsd: 0.75,
      unpriced: 0,
    });
    expect(json.data[1]).toMatchObject({ provider: 'gemini', requests: 1, totalTokens: 5, costUsd: 0, unpriced: 1 });
    expect(json.data[2]).toMatchObject({ provider: 'openai', requests: 1, errors: 1 });
    const one = await get(`/api/stats/providers?from=${FROM}&to=${TO}&connection=c1`);
    expect(one.json.data.map((p: { provider: string; requests: number }) => `${p.provider}:${p.requests}`)).toEqual([
      'anthropic:2',
      'gemini:1',
    ]);
    const series = await get(`/api/stats/timeseries?from=${FROM}&to=${TO}&split=provider`);
    expect(series.status).toBe(200);
    expect(series.json.keys).toEqual(['anthropic', 'gemini', 'openai']);
    expect(series.json.buckets[3].values).toEqual({
      gemini: { requests: 1, costUsd: 0 },
      openai: { requests: 1, costUsd: 0.000123 },
    });
  });

  it('ranks end users per connection by the chosen measure and leaves out records without one', async () => {
    const conn = await store.insertConnection({
      name: 'prod',
      keyHash: `h-${Math.random()}`,
      keyPrefix: 'up-x',
      enabled: true,
      policy: (await import('../policy-settings.js')).DEFAULT_POLICY,
      upstream: null,
      providerKeyEncrypted: null,
      managedBy: 'api',
    });
    const at = FROM + HOUR;
    await insert([
      logRecord({ ts: at, connectionId: conn.id, endUser: 'alice', costUsd: 1, latencyMs: 10 }),
      logRecord({
        ts: at + 1,
        connectionId: conn.id,
        endUser: 'alice',
        costUsd: 1,
        latencyMs: 30,
        status: 500,
        error: 'x',
      }),
      logRecord({
        ts: at + 2,
        connectionId: conn.id,
        endUser: 'bob',
        costUsd: 5,
        flags: [{ type: 'f', description: 'd' }],
      }),
      logRecord({ ts: at + 3, connectionId: conn.id, endUser: null, costUsd: 50 }),
    ]);
    const byCost = await get(`/api/stats/users?from=${FROM}&to=${TO}`);
    expect(byCost.json.data.map((u: { user: string }) => u.user)).toEqual(['bob', 'alice']);
    expect(byCost.json.data[1]).toEqual({
      user: 'alice',
      connectionId: conn.id,
      connectionName: 'prod',
      requests: 2,
      costUsd: 2,
      avgLatencyMs: 20,
      errors: 1,
      flags: 0,
      moderations: 0,
      lastSeen: new Date(at + 1).toISOString(),
    });
    const byErrors = await get(`/api/stats/users?from=${FROM}&to=${TO}&sort=errors&limit=1`);
    expect(byErrors.json.data.map((u: { user: string }) => u.user)).toEqual(['alice']);
    const one = await get(`/api/stats/users?from=${FROM}&to=${TO}&user=bob`);
    expect(one.json.data).toHaveLength(1);
  });

  it('answers 400 naming the field for bad input', async () => {
    const zone = await get('/api/stats/summary?tz=Mars/Olympus');
    expect(zone.status).toBe(400);
    expect(zone.json.error.message).toBe(
      'Usage Panda: tz: unknown time zone (expected an IANA name such as Europe/Berlin)',
    );
    const order = await get(`/api/stats/models?from=${TO}&to=${FROM}`);
    expect(order.status).toBe(400);
    expect(order.json.error.message).toBe('Usage Panda: from: must be before to');
    const tooMany = await get(`/api/stats/timeseries?from=0&to=${TO}&interval=hour`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.message).toMatch(/^Usage Panda: interval: about \d+ hour buckets are too many/);
    const split = await get('/api/stats/timeseries?split=user');
    expect(split.status).toBe(400);
    expect(split.json.error.message).toMatch(/^Usage Panda: split: /);
  });
});
