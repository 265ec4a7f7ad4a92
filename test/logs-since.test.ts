// GET /api/logs?since=<record id>: only the records newer than one the caller has, so a live
// view refreshes in O(new records); on SQLite and on PostgreSQL, with the filters and limits of
// every logs page, and with requests made through the official SDK.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../src/domain.js';
import { newRequestId } from '../src/exchange.js';
import { logRecord } from './fixtures.js';
import { type Stack, startStack } from './harness.js';
import { POSTGRES_URL } from './store-targets.js';

async function sql(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(statement);
  await client.end();
}

describe.each(['sqlite', 'postgres'] as const)('logs since a record id on %s', (engine) => {
  let stack: Stack;
  const schema = `test_since_${randomBytes(6).toString('hex')}`;
  // 30 records one second apart, older than any request made below; every third one of conn_b.
  const base = Date.now() - 3_600_000;
  const seeded: LogRecord[] = Array.from({ length: 30 }, (_, i) => {
    const ts = base + i * 1000;
    return logRecord({ id: newRequestId(ts), ts, connectionId: i % 3 === 0 ? 'conn_b' : 'conn_a' });
  });
  const ids = (json: { data: { id: string }[] }) => json.data.map((r) => r.id);
  const newestFirst = (records: LogRecord[]) => records.map((r) => r.id).reverse();

  beforeAll(async () => {
    if (engine === 'postgres') {
      await sql(`create schema ${schema}`);
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      stack = await startStack({ databaseUrl: url.toString() });
    } else {
      stack = await startStack();
    }
    await stack.gateway.store.insertLogs(seeded);
  });
  afterAll(async () => {
    await stack?.close();
    if (engine === 'postgres') await sql(`drop schema if exists ${schema} cascade`);
  });

  it('answers only the records newer than the given id, newest first', async () => {
    const since = seeded[19]?.id;
    const { status, json } = await stack.admin('GET', `/api/logs?since=${since}`);
    expect(status).toBe(200);
    expect(ids(json)).toEqual(newestFirst(seeded.slice(20)));
    expect(json.nextCursor).toBeNull();
  });

  it('answers nothing new for the newest id, and applies the filters', async () => {
    const newest = await stack.admin('GET', `/api/logs?since=${seeded.at(-1)?.id}`);
    expect(newest.json).toEqual({ data: [], nextCursor: null });
    const filtered = await stack.admin('GET', `/api/logs?since=${seeded[9]?.id}&connection=conn_b`);
    expect(ids(filtered.json)).toEqual(newestFirst(seeded.slice(10).filter((r) => r.connectionId === 'conn_b')));
  });

  it('says when more are new than the limit: a cursor leads to the rest, never past the id', async () => {
    const since = seeded[9]?.id;
    const first = await stack.admin('GET', `/api/logs?since=${since}&limit=15`);
    expect(ids(first.json)).toEqual(newestFirst(seeded.slice(15)));
    expect(first.json.nextCursor).toEqual(expect.any(String));
    const rest = await stack.admin(
      'GET',
      `/api/logs?since=${since}&limit=15&cursor=${encodeURIComponent(first.json.nextCursor)}`,
    );
    expect(ids(rest.json)).toEqual(newestFirst(seeded.slice(10, 15)));
    expect(rest.json.nextCursor).toBeNull();
  });

  it('shows requests made after the newest one a live view has, and only those', async () => {
    const { key } = await stack.createConnection({ name: `live-${engine}` });
    const client = stack.client(key);
    const made: string[] = [];
    for (const content of ['one', 'two', 'three']) {
      const { response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] })
        .withResponse();
      made.push(response.headers.get('x-usagepanda-request-id') ?? '');
    }
    await stack.gateway.logWriter.drain();
    const { json } = await stack.admin('GET', `/api/logs?since=${made[0]}`);
    expect(ids(json)).toEqual([made[2], made[1]]);
    expect(json.data[0]).toMatchObject({ id: made[2], status: 200, connectionName: `live-${engine}` });
  });

  it('leaves the bodies out of a page read for the CSV export, and only them', async () => {
    const withBody = logRecord({
      id: newRequestId(base - 1000),
      ts: base - 1000,
      requestBody: '{"a":1}',
      responseBody: 'ok',
    });
    await stack.gateway.store.insertLogs([withBody]);
    const window = { from: base - 1000, to: base - 999 };
    const full = await stack.gateway.store.queryLogs(window, { limit: 5 });
    const bare = await stack.gateway.store.queryLogs(window, { limit: 5, bodies: false });
    expect(full.records).toEqual([withBody]);
    expect(bare.records).toEqual([{ ...withBody, requestBody: null, responseBody: null }]);
  });

  it('refuses an empty or overlong since with a 400 in OpenAI’s error shape', async () => {
    const cases = [
      ['', 'Usage Panda: since: Too small: expected string to have >=1 characters'],
      ['x'.repeat(101), 'Usage Panda: since: Too big: expected string to have <=100 characters'],
    ];
    for (const [since, message] of cases) {
      const { status, json } = await stack.admin('GET', `/api/logs?since=${since}`);
      expect(status).toBe(400);
      expect(json.error).toMatchObject({ type: 'invalid_request', message });
    }
  });
});
