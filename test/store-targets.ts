// The two real databases tests run against: a SQLite file in a temp dir and the machine's
// PostgreSQL, in a schema of its own that is dropped afterwards.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openStore, type SqlStore } from '../src/store/sql-store.js';

export const POSTGRES_URL = process.env.USAGE_PANDA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement on the test database in a connection of its own; its rows. */
export async function pgQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(statement: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<T>(statement)).rows;
  } finally {
    await client.end();
  }
}

export interface StoreTarget {
  name: string;
  /** Opens and migrates a fresh store. */
  open(): Promise<SqlStore>;
  cleanup(): Promise<void>;
}

export function sqliteStoreTarget(): StoreTarget {
  let dir = '';
  return {
    name: 'sqlite',
    async open() {
      dir = await mkdtemp(join(tmpdir(), 'usage-panda-store-'));
      const store = (await openStore({ dataDir: dir })) as SqlStore;
      await store.migrate();
      return store;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function postgresStoreTarget(): StoreTarget {
  const schema = `test_${randomBytes(6).toString('hex')}`;
  return {
    name: 'postgres',
    async open() {
      await pgQuery(`create schema ${schema}`);
      const store = (await openStore({ databaseUrl: POSTGRES_URL, dataDir: '.', schema })) as SqlStore;
      await store.migrate();
      return store;
    },
    async cleanup() {
      await pgQuery(`drop schema if exists ${schema} cascade`);
    },
  };
}

/** Opens the target's store for a suite: handed to `use` before its tests, closed and removed after them. */
export function openForSuite(target: StoreTarget, use: (store: SqlStore) => void): void {
  let store: SqlStore | undefined;
  beforeAll(async () => {
    store = await target.open();
    use(store);
  });
  afterAll(async () => {
    await store?.close();
    await target.cleanup();
  });
}

/** Empties the request log and every rollup table, for a test that starts from no records. */
export async function clearLogs(store: SqlStore): Promise<void> {
  for (const table of [
    'logs',
    'log_hour_totals',
    'log_day_totals',
    'log_hour_overall',
    'log_hour_connections',
    'log_day_connections',
    'log_day_overall',
    'log_user_hours',
    'log_user_windows',
    'log_alert_hours',
    'log_alert_days',
    'log_error_runs',
  ]) {
    await sql`delete from ${sql.table(table)}`.execute(store.db);
  }
  await sql`update settings set value = '' where key = 'user_windows_as_of'`.execute(store.db);
}
