// The gateway on PostgreSQL (DATABASE_URL=postgres://…), end to end, in a schema of its own.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { startEdge } from '../src/edge-gateway.js';
import { generateApiKey } from '../src/secrets/keys.js';
import { openStore } from '../src/store/sql-store.js';
import { apiError, fakeProviderKey, type Stack, startStack } from './harness.js';

const POSTGRES_URL = process.env.USAGE_PANDA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `test_gateway_${randomBytes(6).toString('hex')}`;

async function sql(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(statement);
  await client.end();
}

let stack: Stack;
let databaseUrl: string;
beforeAll(async () => {
  await sql(`create schema ${schema}`);
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  databaseUrl = url.toString();
  stack = await startStack({ databaseUrl });
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

  it('sums requests per provider that answered for the Dashboard, through a connection with two targets', async () => {
    const origin = new URL(stack.mock.url).origin;
    const { id, key } = await stack.createConnection({
      name: 'pg-routed',
      targets: [
        { provider: 'anthropic', baseUrl: origin, models: ['claude-*'] },
        { provider: 'openai', baseUrl: stack.mock.url },
      ],
    });
    const client = stack.client(key);
    const ask = async (model: string) => {
      const { response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'hello' }] })
        .withResponse();
      return stack.record(response.headers.get('x-usagepanda-request-id'));
    };
    const records = [await ask('claude-3-5-haiku-20241022'), await ask('gpt-4o-mini'), await ask('gpt-4o-mini')];
    expect(records.map((r) => r.provider)).toEqual(['anthropic', 'openai', 'openai']);
    const { status, json } = await stack.admin('GET', `/api/stats/providers?connection=${id}`);
    expect(status).toBe(200);
    expect(json.data.map((p: { provider: string; requests: number }) => [p.provider, p.requests])).toEqual([
      ['openai', 2],
      ['anthropic', 1],
    ]);
    const anthropic = records[0];
    expect(json.data[1]).toMatchObject({ totalTokens: anthropic?.totalTokens, costUsd: anthropic?.costUsd });
    // The next test expects the first connection alone.
    expect((await stack.admin('DELETE', `/api/connections/${id}`)).status).toBe(204);
  });

  it('applies a config file at restart: takes the connection over by name, with the file key and policy', async () => {
    const env = { PG_UP_KEY: generateApiKey() };
    const yaml = ['connections:', '  - name: pg', `    key: \${PG_UP_KEY}`, '    policy: { maxTokens: 10 }'];
    const previous = stack;
    await previous.stop();
    stack = await startStack({ databaseUrl }, { configYaml: yaml.join('\n'), env, restartOf: previous });
    const list = await stack.admin('GET', '/api/connections');
    expect(list.json.data).toMatchObject([{ name: 'pg', managedBy: 'file', policy: { maxTokens: 10 } }]);
    const blocked = await apiError(
      stack.client(env.PG_UP_KEY).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 50,
      }),
    );
    expect(blocked.message).toBe('422 Usage Panda: Config set to max tokens of: 10; request was: 50');
  });
});

describe('edge gateways of a central gateway on PostgreSQL', () => {
  it('records a request an edge served with the edge name, once though its batch is posted twice', async () => {
    const { key, id: connectionId } = await stack.createConnection({ providerKey: fakeProviderKey() });
    const { status, json } = await stack.admin('POST', '/api/edge-tokens', { name: 'pg-edge' });
    expect(status).toBe(201);
    const dataDir = await mkdtemp(join(tmpdir(), 'usage-panda-edge-'));
    const config = await loadConfig(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir,
        upstream: stack.mock.url,
        controlPlane: stack.gateway.url,
        edgeToken: json.token,
        logLevel: 'silent',
      },
      {},
    );
    const edge = await startEdge(config);
    try {
      const { response } = await new OpenAI({ apiKey: key, baseURL: `${edge.url}/v1`, maxRetries: 0 }).chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi from the edge' }] })
        .withResponse();
      const id = response.headers.get('x-usagepanda-request-id') ?? '';
      await expect.poll(() => stack.gateway.store.findLog(id), { timeout: 10_000 }).toBeTruthy();
      const record = await stack.gateway.store.findLog(id);
      expect(record).toMatchObject({ edge: 'pg-edge', connectionId, status: 200 });
      const posted = await fetch(`${stack.gateway.url}/api/edge/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${json.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ records: [record] }),
      });
      expect(posted.status).toBe(202);
      const page = await stack.gateway.store.queryLogs({ connectionId }, { limit: 10 });
      expect(page.records.map((r) => r.id)).toEqual([id]);
    } finally {
      await edge.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a PostgreSQL connection dropped by the server', () => {
  it('does not end the process: the pool lets the idle connection go and the next query connects anew', async () => {
    const applicationName = `usage_panda_drop_${randomBytes(4).toString('hex')}`;
    const url = new URL(databaseUrl);
    url.searchParams.set('application_name', applicationName);
    const store = await openStore({ databaseUrl: url.toString(), dataDir: '.', schema });
    try {
      await store.listConnections(); // leaves an idle connection in the pool
      await sql(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${applicationName}'`);
      // The pool hears of the dropped connection as an 'error' event on its idle client.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(Array.isArray(await store.listConnections())).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('two gateways in two schemas of one database', () => {
  const schemas = [0, 1].map(() => `test_gateway_${randomBytes(6).toString('hex')}`);
  const stacks: Stack[] = [];
  const urlFor = (name: string) => {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('options', `-c search_path=${name}`);
    return url.toString();
  };
  afterAll(async () => {
    for (const running of stacks) await running.close();
    for (const name of schemas) await sql(`drop schema if exists ${name} cascade`);
  });

  it('each migrates its own schema, though the other already holds the migration tables, and keeps its records there', async () => {
    for (const name of schemas) await sql(`create schema ${name}`);
    // The first start creates Kysely's migration tables in the first schema; the second must not take them for its own.
    for (const name of schemas) stacks.push(await startStack({ databaseUrl: urlFor(name) }));

    const ids: string[] = [];
    for (const [index, running] of stacks.entries()) {
      const { key } = await running.createConnection({ name: `schema-${index}` });
      const { response } = await running
        .client(key)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
        .withResponse();
      const id = response.headers.get('x-usagepanda-request-id');
      expect(await running.record(id)).toMatchObject({ status: 200, connectionName: `schema-${index}` });
      ids.push(id ?? '');
    }
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      for (const [index, name] of schemas.entries()) {
        const logs = await client.query(`select id, connection_name from ${name}.logs`);
        expect(logs.rows).toEqual([{ id: ids[index], connection_name: `schema-${index}` }]);
        const migrations = await client.query(`select count(*)::int as n from ${name}.kysely_migration`);
        expect(migrations.rows[0].n).toBeGreaterThan(0);
      }
    } finally {
      await client.end();
    }
  });
});
