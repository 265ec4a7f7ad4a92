// The end users' sliding windows against the raw records, on SQLite and PostgreSQL: records
// over 92 days written before and after rolls (late ones included), then the users table of
// ranges near each window must equal what summing the raw records gives, in full and as a
// top list in every order.
import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { clearLogs, openForSuite, postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import { HOUR_MS, type LogRecord } from '../domain.js';
import { newRequestId } from '../exchange.js';
import {
  type AggregateQuery,
  type AggregateRow,
  aggregate,
  hourOf,
  type Totals,
  type UserSort,
  zeroTotals,
} from './rollups.js';
import type { SqlStore } from './sql-store.js';
import { userWindowsAggregate, WINDOW_SPANS_HOURS } from './user-windows.js';

const NOW = Date.UTC(2026, 5, 15, 12, 20);
const OLDEST = NOW - 92 * 24 * HOUR_MS;

const recordArb = (from: number, to: number) =>
  fc
    .record({
      ts: fc.integer({ min: from, max: to - 1 }),
      connectionId: fc.constantFrom('conn_a', 'conn_b', null),
      // More users than a top list and its corrections read, so users are also looked up by name.
      endUser: fc.oneof(
        fc.constantFrom('Émile', null),
        fc.nat(29).map((i) => `user-${i}`),
      ),
      status: fc.constantFrom(200, 200, 200, 500),
      costUsd: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
      flagged: fc.boolean(),
      moderated: fc.boolean(),
    })
    .map(
      (r): LogRecord =>
        logRecord({
          id: newRequestId(r.ts),
          ts: r.ts,
          connectionId: r.connectionId,
          endUser: r.endUser,
          status: r.status,
          error: r.status >= 400 ? 'failed' : null,
          // Whole cents: sums taken away and added back stay exact.
          costUsd: r.costUsd === null ? null : r.costUsd / 100,
          latencyMs: 100,
          flags: r.flagged ? [{ type: 'x', description: 'y' }] : [],
          moderated: r.moderated,
        }),
    );

const SORT_OF: Record<UserSort, (t: Totals) => number> = {
  costUsd: (t) => t.costUsd,
  requests: (t) => t.requests,
  errors: (t) => t.errors,
  flagged: (t) => t.flagged,
  moderated: (t) => t.moderated,
};

/** The users table summed from the records in memory: `user@connection` → requests, errors, cost, last seen. */
function reference(records: readonly LogRecord[], from: number, to: number) {
  const rows = new Map<string, Totals>();
  for (const r of records) {
    if (r.ts < from || r.ts >= to || r.endUser === null) continue;
    const key = `${r.endUser}@${r.connectionId ?? ''}`;
    const row = rows.get(key) ?? zeroTotals();
    row.requests += 1;
    if (r.status >= 400) row.errors += 1;
    if (r.flags.length) row.flagged += 1;
    if (r.moderated) row.moderated += 1;
    row.costUsd += r.costUsd ?? 0;
    if (r.costUsd === null) row.unpriced += 1;
    row.lastTs = Math.max(row.lastTs, r.ts);
    rows.set(key, row);
  }
  return rows;
}

const keyOf = (row: AggregateRow) => `${row.keys.endUser}@${row.keys.connectionId ?? ''}`;
const summary = (t: Totals) => ({
  requests: t.requests,
  errors: t.errors,
  flagged: t.flagged,
  moderated: t.moderated,
  unpriced: t.unpriced,
  costUsd: Math.round(t.costUsd * 100),
  lastTs: t.lastTs,
});

describe.each([sqliteStoreTarget(), postgresStoreTarget()])("end users' windows on $name", (target) => {
  let store: SqlStore;
  openForSuite(target, (opened) => {
    store = opened;
  });

  const windowsQuery = (q: AggregateQuery) =>
    userWindowsAggregate(store.db, store.dialect, q, (part) => aggregate(store.db, part));

  it('answer the users table of ranges near each window as the raw records do, through rolls and late records', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb(OLDEST, NOW - 30 * HOUR_MS), { maxLength: 40 }),
        fc.integer({ min: NOW - 29 * HOUR_MS, max: NOW - 60_000 }),
        fc.array(recordArb(OLDEST, NOW + 3 * HOUR_MS), { maxLength: 40 }),
        // Late ones: any time, or the last minutes before the roll (requests that were under way).
        fc.array(fc.oneof(recordArb(OLDEST, NOW + 3 * HOUR_MS), recordArb(NOW - 120_000, NOW)), { maxLength: 20 }),
        fc.constantFrom(...WINDOW_SPANS_HOURS),
        fc.integer({ min: 0, max: 3 * HOUR_MS }),
        fc.integer({ min: -3 * HOUR_MS, max: 3 * HOUR_MS }),
        fc.constantFrom<UserSort>('costUsd', 'requests', 'errors', 'flagged', 'moderated'),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(undefined, 'conn_a'),
        async (before, between, after, late, span, toOffset, fromOffset, by, limit, connectionId) => {
          await clearLogs(store);
          await store.insertLogs(before);
          expect(await store.rollUserWindows(NOW - 30 * HOUR_MS)).toMatchObject({ rebuilt: true });
          // Rolled at some minute in between, then at NOW: what came since added, whole hours taken away.
          await store.insertLogs(after.slice(0, 20));
          await store.rollUserWindows(between);
          await store.insertLogs(after.slice(20));
          expect(await store.rollUserWindows(NOW)).toMatchObject({ rebuilt: false });
          // Then records arrive for times already rolled.
          await store.insertLogs(late);
          const records = [...before, ...after, ...late];
          // The windows end at NOW (a whole minute) and start at the whole hour nearest to NOW less their span.
          const to = NOW + toOffset;
          const from = hourOf(NOW - span * HOUR_MS + HOUR_MS / 2) + fromOffset;
          const query = { boundaries: [from, to], groupBy: ['endUser', 'connectionId'] as const, withEndUser: true };
          const expected = reference(
            records.filter((r) => connectionId === undefined || r.connectionId === connectionId),
            from,
            to,
          );

          const all = await windowsQuery({ ...query, connectionId });
          expect(all).not.toBeNull();
          expect(new Map(all?.map((row) => [keyOf(row), summary(row)]))).toEqual(
            new Map([...expected].map(([key, t]) => [key, summary(t)])),
          );

          const top = await windowsQuery({ ...query, connectionId, top: { by, limit } });
          const order = (a: [string, Totals], b: [string, Totals]) =>
            SORT_OF[by](b[1]) - SORT_OF[by](a[1]) ||
            b[1].requests - a[1].requests ||
            (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
          const firstOf = (rows: Array<[string, Totals]>) =>
            rows
              .sort(order)
              .slice(0, limit)
              .map(([key, t]) => [key, summary(t)]);
          expect(firstOf(top?.map((row) => [keyOf(row), row]) ?? [])).toEqual(firstOf([...expected]));
        },
      ),
      { numRuns: target.name === 'postgres' ? 15 : 40 },
    );
  });

  it('put first a user whom the records after the window lift past the top of the window', async () => {
    await clearLogs(store);
    const asOf = NOW - (NOW % HOUR_MS);
    const spend = (endUser: string, costUsd: number, ts: number) =>
      logRecord({ id: newRequestId(ts), ts, endUser, connectionId: 'conn_a', costUsd });
    await store.insertLogs(['a', 'b', 'c', 'd', 'e'].map((user, i) => spend(user, 10 - i, asOf - 5 * HOUR_MS)));
    await store.rollUserWindows(NOW);
    // After the window's end: e spends 5 more, 11 in all.
    await store.insertLogs([spend('e', 5, NOW + 60_000)]);
    const rows = await windowsQuery({
      boundaries: [asOf - 24 * HOUR_MS, NOW + 120_000],
      groupBy: ['endUser', 'connectionId'],
      withEndUser: true,
      top: { by: 'costUsd', limit: 1 },
    });
    const best = rows?.sort((x, y) => y.costUsd - x.costUsd)[0];
    expect(best?.keys.endUser).toBe('e');
    expect(best?.costUsd).toBeCloseTo(11, 9);
  });

  it('slid by minutes and whole hours, hold what a rebuild at the same minute holds', async () => {
    await clearLogs(store);
    const records = fc.sample(recordArb(OLDEST, NOW), { numRuns: 300, seed: 3 });
    await store.insertLogs(records);
    await store.rollUserWindows(NOW - 40 * HOUR_MS);
    await store.rollUserWindows(NOW);
    const windows = () =>
      sql<Record<string, unknown>>`select span_hours, connection_id, end_user, requests, errors, flagged, moderated,
        unpriced, round(cost_usd * 100) as cents, last_ts from log_user_windows
        order by span_hours, connection_id, end_user`.execute(store.db);
    const stepped = (await windows()).rows;
    expect(stepped.length).toBeGreaterThan(0);
    await sql`update settings set value = '' where key = 'user_windows_as_of'`.execute(store.db);
    expect(await store.rollUserWindows(NOW)).toMatchObject({ rebuilt: true });
    expect((await windows()).rows).toEqual(stepped);
    expect(await store.rollUserWindows(NOW + 1000)).toBeNull();
  });

  it('leave ranges far from every window, and other shapes, to the rollups', async () => {
    await clearLogs(store);
    await store.rollUserWindows(NOW);
    const asOf = NOW - (NOW % HOUR_MS);
    const groupBy = ['endUser', 'connectionId'] as const;
    expect(await windowsQuery({ boundaries: [asOf - 50 * HOUR_MS, asOf], groupBy, withEndUser: true })).toBeNull();
    expect(
      await windowsQuery({ boundaries: [asOf - 24 * HOUR_MS, asOf - HOUR_MS], groupBy, withEndUser: true }),
    ).toBeNull();
    expect(
      await windowsQuery({ boundaries: [asOf - 24 * HOUR_MS, asOf], groupBy: ['endUser'], withEndUser: true }),
    ).toBeNull();
    expect(await windowsQuery({ boundaries: [asOf - 24 * HOUR_MS, asOf], groupBy: ['model'] })).toBeNull();
  });
});
