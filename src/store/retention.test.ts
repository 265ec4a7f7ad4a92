// Retention on SQLite and PostgreSQL: old records go, bodies go sooner, rollups stay.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { openForSuite, postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import { readConfigFile } from '../config/config.js';
import { applyRetention, RetentionSchema } from './retention.js';
import type { SqlStore } from './sql-store.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 6, 1, 12);

describe.each([sqliteStoreTarget(), postgresStoreTarget()])('retention on $name', (target) => {
  let store: SqlStore;
  openForSuite(target, (opened) => {
    store = opened;
  });

  it('deletes records past recordDays, clears bodies past bodyDays, and keeps the rollups', async () => {
    const withBodies = { requestBody: '{"q":1}', responseBody: '{"a":2}', connectionId: 'conn_ret' };
    const old = logRecord({ ...withBodies, ts: NOW - 40 * DAY });
    const middle = logRecord({ ...withBodies, ts: NOW - 10 * DAY });
    const fresh = logRecord({ ...withBodies, ts: NOW - DAY });
    await store.insertLogs([old, middle, fresh]);
    const settings = RetentionSchema.parse({ recordDays: 30, bodyDays: 7 });

    expect(await applyRetention(store, settings, NOW)).toEqual({ recordsDeleted: 1, bodiesCleared: 1 });
    expect(await store.findLog(old.id)).toBeUndefined();
    expect(await store.findLog(middle.id)).toMatchObject({ requestBody: null, responseBody: null, totalTokens: 8 });
    expect(await store.findLog(fresh.id)).toMatchObject({ requestBody: '{"q":1}', responseBody: '{"a":2}' });

    const rows = await store.aggregateLogs({
      connectionId: 'conn_ret',
      boundaries: [NOW - 50 * DAY, NOW],
      groupBy: [],
    });
    // The deleted record is still counted: its hour's rollup is whole, only raw edges are lost.
    expect(rows.reduce((sum, r) => sum + r.requests, 0)).toBe(3);

    // A second sweep finds nothing new to do.
    expect(await applyRetention(store, settings, NOW + 1000)).toEqual({ recordsDeleted: 0, bodiesCleared: 0 });
  });

  it('keeps everything with the defaults', async () => {
    const record = logRecord({ ts: 0, requestBody: 'x' });
    await store.insertLogs([record]);
    expect(await applyRetention(store, RetentionSchema.parse({}), NOW)).toEqual({
      recordsDeleted: 0,
      bodiesCleared: 0,
    });
    expect((await store.findLog(record.id))?.requestBody).toBe('x');
  });
});

describe('retention settings in the config file', () => {
  it('are read from their own section and refuse negative days', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usage-panda-retention-'));
    try {
      await writeFile(join(dir, 'ok.yaml'), 'retention:\n  recordDays: 90\n  bodyDays: 7\n');
      expect((await readConfigFile(join(dir, 'ok.yaml'), {})).retention).toEqual({
        recordDays: 90,
        bodyDays: 7,
        intervalMinutes: 60,
      });
      await writeFile(join(dir, 'bad.yaml'), 'retention:\n  recordDays: -1\n');
      await expect(readConfigFile(join(dir, 'bad.yaml'), {})).rejects.toThrow(/retention\.recordDays: Too small/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
