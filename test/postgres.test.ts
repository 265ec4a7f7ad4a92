// The gateway on PostgreSQL (DATABASE_URL=postgres://…), end to end, in a schema of its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, type Stack, startStack } from './harness.js';

const POSTGRES_URL = process.env.USAGE_PANDA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `test_gateway_${randomBytes(6).toString('hex')}`;

async function sql(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(statement);
  await client.end();
}

let stack: Stack;
beforeAll(async () => {
  await sql(`create schema ${schema}`);
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  stack = await startStack({ databaseUrl: url.toString() });
});
afterAll(async () => {
  await stack?.close();
  await sql(`drop schema if exists ${schema} cascade`);
});

describe('gateway on PostgreSQL', () => {
  it('stores connections and records there, and enforces user ids from them', async () => {
    expect(stack.gateway.store.dialect).toBe('postgres');
    const { key } = await stack.createConnection({ name: 'pg', policy: { enforceUserIds: true } });
    const client = stack.client(key);
    const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello' }] };

    const blocked = await apiError(client.chat.completions.create(chat));
    expect(blocked.status).toBe(422);
    const { data, response } = await client.chat.completions.create({ ...chat, user: 'u-pg' }).withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hello');

    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, endUser: 'u-pg', promptTokens: 1, connectionName: 'pg' });
    const logs = await stack.admin('GET', '/api/logs?user=u-pg');
    expect(logs.json.data).toHaveLength(1);
  });
});
