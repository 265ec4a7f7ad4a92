// The store against real databases: a SQLite file in a temp dir and the machine's
// PostgreSQL, each test run in a schema of its own that is dropped afterwards.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { openForSuite, postgresStoreTarget } from '../../test/store-targets.js';
import { DAY_MS, requestIdPrefix } from '../domain.js';
import { DEFAULT_POLICY } from '../policy-settings.js';
import { openStore, type SqlStore } from './sql-store.js';
import type { Store } from './store.js';

const POSTGRES_URL = process.env.USAGE_PANDA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Target {
  name: string;
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

function sqliteTarget(): Target {
  let dir = '';
  return {
    name: 'sqlite',
    async open() {
      dir ||= await mkdtemp(join(tmpdir(), 'usage-panda-store-'));
      return openStore({ dataDir: dir });
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

function postgresTarget(): Target {
  const schema = `test_store_${randomBytes(6).toString('hex')}`;
  const admin = () => new pg.Client({ connectionString: POSTGRES_URL });
  let created = false;
  return {
    name: 'postgres',
    async open() {
      if (!created) {
        const client = admin();
        await client.connect();
        await client.query(`create schema ${schema}`);
        await client.end();
        created = true;
      }
      return openStore({ databaseUrl: POSTGRES_URL, dataDir: '.', schema });
    },
    async cleanup() {
      const client = admin();
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

describe.each([sqliteTarget(), postgresTarget()])('store on $name', (target) => {
  let store: Store;

  beforeAll(async () => {
    store = await target.open();
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    await target.cleanup();
  });

  it('keeps settings and overwrites them', async () => {
    expect(await store.getSetting('missing')).toBeUndefined();
    await store.setSetting('k', 'one');
    await store.setSetting('k', 'two');
    expect(await store.getSetting('k')).toBe('two');
  });

  it('creates, lists, updates and deletes auto-replies', async () => {
    const created = await store.insertAutoReply({
      type: 'chat',
      request: 'hours?',
      response: '9 to 5',
      connections: ['conn_a'],
      managedBy: 'api',
    });
    expect(created).toMatchObject({ type: 'chat', connections: ['conn_a'], managedBy: 'api' });
    expect(typeof created.createdAt).toBe('number');
    const updated = await store.updateAutoReply(created.id, { response: '10 to 6', connections: [] });
    expect(updated).toMatchObject({ request: 'hours?', response: '10 to 6', connections: [] });
    expect((await store.listAutoReplies()).map((r) => r.id)).toContain(created.id);
    expect(await store.deleteAutoReply(created.id)).toBe(true);
    expect(await store.findAutoReply(created.id)).toBeUndefined();
    expect(await store.updateAutoReply(created.id, { response: 'x' })).toBeUndefined();
  });

  it('keeps the upstream attempts of a log record', async () => {
    const record = logRecord({
      attempts: [
        { status: 503, error: null, latencyMs: 1.5 },
        { status: 200, error: null, latencyMs: 2 },
      ],
    });
    await store.insertLogs([record]);
    expect((await store.findLog(record.id))?.attempts).toEqual(record.attempts);
  });

  it('creates, finds, updates and soft-deletes connections', async () => {
    const created = await store.insertConnection({
      name: 'prod',
      keyHash: 'hash-1',
      keyPrefix: 'up-abcd',
      enabled: true,
      policy: { ...DEFAULT_POLICY, enforceUserIds: true },
      upstream: null,
      providerKeyEncrypted: 'v1:secret',
      managedBy: 'api',
    });
    expect(created.id).toMatch(/^conn_[0-9a-f]{16}$/);
    expect(created.policy.enforceUserIds).toBe(true);
    expect((await store.findConnectionByKeyHash('hash-1'))?.id).toBe(created.id);
    expect((await store.findConnectionByName('prod'))?.id).toBe(created.id);

    const updated = await store.updateConnection(created.id, { enabled: false, keyHash: 'hash-2' });
    expect(updated?.enabled).toBe(false);
    expect(updated?.providerKeyEncrypted).toBe('v1:secret');
    expect(await store.findConnectionByKeyHash('hash-1')).toBeUndefined();

    expect(await store.deleteConnection(created.id)).toBe(true);
    expect(await store.deleteConnection(created.id)).toBe(false);
    expect(await store.findConnectionById(created.id)).toBeUndefined();
    expect(await store.findConnectionByKeyHash('hash-2')).toBeUndefined();
    expect(await store.updateConnection(created.id, { enabled: true })).toBeUndefined();
    expect((await store.listConnections()).map((c) => c.id)).not.toContain(created.id);
  });

  it('keeps edge tokens: unique names, found by hash, touched, revoked', async () => {
    const token = await store.insertEdgeToken({
      name: 'eu-west',
      tokenHash: 'edge-hash-1',
      tokenPrefix: 'upe-abc',
      tokenEncrypted: 'v1:sealed',
      connections: ['conn_1'],
    });
    expect(token).toMatchObject({ name: 'eu-west', connections: ['conn_1'], lastSeenAt: null });
    expect(token.id).toMatch(/^edge_[0-9a-f]{16}$/);
    await expect(
      store.insertEdgeToken({
        name: 'eu-west',
        tokenHash: 'h2',
        tokenPrefix: 'upe-x',
        tokenEncrypted: 'x',
        connections: null,
      }),
    ).rejects.toThrow();
    await store.touchEdgeToken(token.id, 1_800_000_000_000);
    expect(await store.findEdgeTokenByHash('edge-hash-1')).toEqual({
      ...token,
      lastSeenAt: 1_800_000_000_000,
      tokenEncrypted: 'v1:sealed',
    });
    expect((await store.findEdgeTokenByName('eu-west'))?.id).toBe(token.id);
    expect((await store.listEdgeTokens()).map((t) => t.name)).toEqual(['eu-west']);
    expect(await store.deleteEdgeToken(token.id)).toBe(true);
    expect(await store.findEdgeTokenByHash('edge-hash-1')).toBeUndefined();
  });

  it('keeps which edge served a record', async () => {
    const record = logRecord({ edge: 'eu-west' });
    await store.insertLogs([record]);
    expect(await store.findLog(record.id)).toEqual(record);
  });

  it('writes log records and reads them back field for field', async () => {
    const record = logRecord({
      stream: true,
      moderated: true,
      flags: [{ type: 'policy_enforce_user_ids', description: 'Config set to block requests without user field' }],
      ts: 1_750_000_000_123,
    });
    // Text that array and JSON literals escape: quotes, backslashes, braces, commas, NULL, newlines, emoji.
    const awkward = logRecord({
      ts: 1_750_000_000_124,
      userAgent: 'a\\b "c" {d,e} NULL',
      endUser: '',
      error: 'line 1\nline 2\t\u00e9 \u{1f43c}',
      requestBody: '{"messages":[{"role":"user","content":"\\"hi\\" {x}"}]}',
      responseBody: 'NULL',
      connectionName: null,
    });
    await store.insertLogs([record, awkward]);
    await store.insertLogs([record]); // a retried batch is not an error
    expect(await store.findLog(record.id)).toEqual(record);
    expect(await store.findLog(awkward.id)).toEqual(awkward);
    expect(await store.findLog('req_nothing')).toBeUndefined();
  });

  it('pages newest first with a cursor and filters by every field', async () => {
    const base = 1_800_000_000_000;
    const records = Array.from({ length: 25 }, (_, i) =>
      logRecord({
        id: `${requestIdPrefix(base + i)}page${String(i).padStart(3, '0')}`,
        ts: base + i,
        connectionId: i % 2 ? 'conn_odd' : 'conn_even',
        endUser: i % 5 === 0 ? 'alice' : null,
        status: i % 7 === 0 ? 422 : 200,
        flags: i % 7 === 0 ? [{ type: 'policy_%_x', description: 'odd type' }] : [],
        traceId: i === 3 ? 'trace-3' : null,
      }),
    );
    await store.insertLogs(records);
    const window = { from: base, to: base + 25 };

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.queryLogs(window, { limit: 10, cursor });
      seen.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(records.map((r) => r.id).reverse());

    const ids = async (filter: Parameters<Store['queryLogs']>[0]) =>
      (await store.queryLogs({ ...window, ...filter }, { limit: 500 })).records.map((r) => r.id.slice(-3));
    expect(await ids({ connectionId: 'conn_odd' })).toHaveLength(12);
    expect(await ids({ endUser: 'alice' })).toEqual(['020', '015', '010', '005', '000']);
    expect(await ids({ error: true })).toEqual(['021', '014', '007', '000']);
    expect(await ids({ error: false })).toHaveLength(21);
    expect(await ids({ flagType: 'policy_%_x' })).toEqual(['021', '014', '007', '000']);
    expect(await ids({ flagType: 'policy_' })).toEqual([]);
    expect(await ids({ traceId: 'trace-3' })).toEqual(['003']);
    expect(await ids({ from: base + 20 })).toHaveLength(5);
    expect(await ids({ to: base + 2 })).toEqual(['001', '000']);
  });

  it("pages one end user's records over many days newest first, with cursor, since and range, from the user index", async () => {
    const base = Date.UTC(2026, 3, 1);
    // Names of their own: the store holds the other tests' records too.
    const alice = `alice-${randomBytes(4).toString('hex')}`;
    const bob = `bob-${randomBytes(4).toString('hex')}`;
    // Alice every other day at two times, Bob in between: days with and without her.
    const records = Array.from({ length: 40 }, (_, i) =>
      logRecord({ ts: base + Math.floor(i / 2) * 2 * DAY_MS + (i % 2) * 3_600_000, endUser: alice }),
    ).concat(Array.from({ length: 20 }, (_, i) => logRecord({ ts: base + i * DAY_MS + 60_000, endUser: bob })));
    await store.insertLogs(records);
    const expected = records
      .filter((r) => r.endUser === alice)
      .map((r) => r.id)
      .sort()
      .reverse();
    const pages: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.queryLogs({ endUser: alice }, { limit: 7, cursor });
      pages.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(pages).toEqual(expected);
    const ids = async (filter: Parameters<Store['queryLogs']>[0], since?: string) =>
      (await store.queryLogs({ endUser: alice, ...filter }, { limit: 500, since })).records.map((r) => r.id);
    const inRange = records.filter(
      (r) => r.endUser === alice && r.ts >= base + 5 * DAY_MS && r.ts < base + 11 * DAY_MS,
    );
    expect(await ids({ from: base + 5 * DAY_MS, to: base + 11 * DAY_MS })).toEqual(
      inRange
        .map((r) => r.id)
        .sort()
        .reverse(),
    );
    expect(await ids({}, expected[3])).toEqual(expected.slice(0, 3));
    expect(await ids({ endUser: 'nobody' })).toEqual([]);
    // The page reads the day-first index on either database.
    const sqlStore = store as SqlStore;
    const plan = await sql<
      Record<string, string>
    >`${sql.raw(sqlStore.dialect === 'sqlite' ? 'explain query plan' : 'explain')}
      select id from logs where ts / 86400000 = 20000 and end_user = 'alice' order by id desc limit 8`.execute(
      sqlStore.db,
    );
    expect(JSON.stringify(plan.rows)).toMatch(/logs_end_user_day/);
  });

  it('writes a large batch in one go', async () => {
    const batch = Array.from({ length: 1200 }, () => logRecord({ connectionId: 'conn_bulk' }));
    await store.insertLogs(batch);
    const page = await store.queryLogs({ connectionId: 'conn_bulk' }, { limit: 9999 });
    expect(page.records).toHaveLength(500);
    expect(page.nextCursor).not.toBeNull();
  });

  it('runs migrations again without harm on restart', async () => {
    await store.migrate();
    const again = await target.open();
    await again.migrate();
    expect(await again.getSetting('k')).toBe('two');
    await again.close();
  });
});

describe('the store on PostgreSQL, read from outside', () => {
  const target = postgresStoreTarget();
  let store: SqlStore;
  openForSuite(target, (opened) => {
    store = opened;
  });

  it("shows the request log and its rollups in PostgreSQL's own types, for Grafana, Metabase or psql", async () => {
    const ts = Date.UTC(2026, 5, 1, 10, 30, 0, 123);
    const record = logRecord({
      ts,
      stream: true,
      moderated: false,
      flags: [{ type: 'policy_wordlists', description: 'matched a word' }],
      costUsd: 0.25,
      latencyMs: 40,
    });
    await store.insertLogs([record]);
    const { rows } = await sql<Record<string, unknown>>`select time, stream, moderated, flags -> 0 ->> 'type' as flag,
      pg_typeof(time)::text as time_type, pg_typeof(flags)::text as flags_type from requests`.execute(store.db);
    expect(rows).toEqual([
      {
        time: new Date(ts),
        stream: true,
        moderated: false,
        flag: 'policy_wordlists',
        timeType: 'timestamp with time zone',
        flagsType: 'jsonb',
      },
    ]);
    const hourly = await sql<Record<string, unknown>>`select hour, connection_id, requests, cost_usd, avg_latency_ms
      from usage_hourly`.execute(store.db);
    expect(hourly.rows).toEqual([
      {
        hour: new Date(Date.UTC(2026, 5, 1, 10)),
        connectionId: 'conn_a',
        requests: 1,
        costUsd: 0.25,
        avgLatencyMs: 40,
      },
    ]);
    const daily = await sql<{ day: Date }>`select day from usage_daily`.execute(store.db);
    expect(daily.rows).toEqual([{ day: new Date(Date.UTC(2026, 5, 1)) }]);
  });
});
