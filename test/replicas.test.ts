// Many replicas, one store: three gateway processes' worth of gateways on one PostgreSQL
// schema migrate once, one dashboard shows every request of all three, and retention runs
// on one replica at a time.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type SqlStore } from '../src/store/sql-store.js';
import { fakeProviderKey, type Stack, startStack } from './harness.js';
import { POSTGRES_URL, pgQuery } from './store-targets.js';

// Provider keys made at run time: never a real one.
const PROVIDER_KEY = fakeProviderKey();

const schema = `test_replicas_${randomBytes(6).toString('hex')}`;

let replicas: Stack[] = [];
beforeAll(async () => {
  await pgQuery(`create schema ${schema}`);
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  // What replicas share: the database, the secret that seals provider keys, the admin token.
  const shared = { databaseUrl: url.toString(), secret: randomBytes(24).toString('hex') };
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  // Started together, as an orchestrator starts them: their migrations race.
  replicas = await Promise.all([1, 2, 3].map(() => startStack(shared, { adminToken })));
});
afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.close()));
  await pgQuery(`drop schema if exists ${schema} cascade`);
});

describe('three replicas on one PostgreSQL', () => {
  it('run each migration once though they started together', async () => {
    const rows = await pgQuery<{ runs: string; names: string }>(
      `select count(*) as runs, count(distinct name) as names from ${schema}.kysely_migration`,
    );
    expect(Number(rows[0]?.runs)).toBeGreaterThan(0);
    expect(rows[0]?.runs).toBe(rows[0]?.names);
  });

  it('show every request of all three on any one dashboard', async () => {
    const [first, second, third] = replicas as [Stack, Stack, Stack];
    const { key } = await first.createConnection({ providerKey: PROVIDER_KEY });
    const ids: string[] = [];
    for (const [i, replica] of replicas.entries()) {
      // The Usage Panda key as the bearer token: the connection's provider key is used.
      const { response } = await replica
        .client(key, { apiKey: key })
        .chat.completions.create({
          model: 'gpt-4o-mini',
          user: `u-${i}`,
          messages: [{ role: 'user', content: `via ${i}` }],
        })
        .withResponse();
      ids.push(response.headers.get('x-usagepanda-request-id') ?? '');
    }
    await Promise.all(replicas.map((replica) => replica.gateway.logWriter.drain()));
    for (const replica of [third, second]) {
      const logs = await replica.admin('GET', '/api/logs?limit=50');
      expect(logs.status).toBe(200);
      expect(logs.json.data.map((r: { id: string }) => r.id).sort()).toEqual([...ids].sort());
    }
    // The provider key sealed by the first replica opens on the others: the same secret.
    const sent = third.mock.requests.findLast((r) => r.path === '/v1/chat/completions');
    expect(sent?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });
});

describe('an exclusive task (retention) across replicas', () => {
  let stores: SqlStore[] = [];
  beforeAll(async () => {
    stores = await Promise.all(
      [1, 2].map(async () => (await openStore({ databaseUrl: POSTGRES_URL, dataDir: '.', schema })) as SqlStore),
    );
  });
  afterAll(() => Promise.all(stores.map((store) => store.close())));

  it('runs on one replica at a time: the other skips while it runs, and runs once it is done', async () => {
    const [a, b] = stores as [SqlStore, SqlStore];
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const running = a.exclusive('retention', async () => {
      await held;
      return 'a';
    });
    // Give the first replica time to take the lock.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await b.exclusive('retention', async () => 'b')).toBeNull();
    expect(await b.exclusive('another task', async () => 'b')).toBe('b');
    release();
    expect(await running).toBe('a');
    expect(await b.exclusive('retention', async () => 'b')).toBe('b');
  });
});
