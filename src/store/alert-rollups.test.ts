// The alert rollups against the alerts' definitions applied to the raw records, on SQLite
// and PostgreSQL: random records (bursts of upstream errors among them) written in random
// order and batches, then any range, of every connection or one, must read the groups
// that grouping the range's records here in plain JS gives — grouped apart from the code
// that writes and reads the rollups.
import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { clearLogs, openForSuite, postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import { DAY_MS, HOUR_MS, type LogRecord } from '../domain.js';
import { BURST_GAP_MS } from './alert-rollups.js';
import type { SqlStore } from './sql-store.js';
import type { AlertGroup } from './store.js';

const BASE = Date.UTC(2026, 4, 10, 18);
const MINUTE = 60_000;
/** Records fall in 60 hours from BASE (a whole UTC day and parts of two more), a few minutes apart within an hour. */
const SPAN = 60 * HOUR_MS;

const recordArb = fc
  .record({
    hour: fc.integer({ min: 0, max: 59 }),
    at: fc.integer({ min: 0, max: 20 * MINUTE }),
    connectionId: fc.constantFrom('conn_a', 'conn_b', null),
    status: fc.constantFrom(200, 200, 422, 500, 502, 503),
    flags: fc.subarray(['policy_x', 'policy_y', 'policy_x']),
    model: fc.constantFrom('gpt-4o', 'mystery-1', null),
    priced: fc.boolean(),
    tokens: fc.constantFrom(0, 12),
    insertRank: fc.nat(),
  })
  .map((r) => {
    const ts = BASE + r.hour * HOUR_MS + r.at;
    return {
      insertRank: r.insertRank,
      record: logRecord({
        ts,
        connectionId: r.connectionId,
        // The name and the texts change over time: an alert shows the latest record's.
        connectionName: r.connectionId && `${r.connectionId}-${r.hour % 2}`,
        status: r.status,
        error: r.status >= 500 ? `upstream ${r.at % 3}` : r.status >= 400 ? 'blocked' : null,
        flags: r.flags.map((type, i) => ({ type, description: `${type} ${i} at ${r.hour % 3}` })),
        model: r.model,
        costUsd: r.priced ? 0.001 : null,
        totalTokens: r.tokens,
      }),
    };
  });

/** Records at distinct instants (which record is the latest is never a tie), in the order they are written. */
const recordsArb = fc
  .uniqueArray(recordArb, { minLength: 1, maxLength: 80, selector: (r) => r.record.ts })
  .map((rs) => ({ records: rs.map((r) => r.record), written: [...rs].sort((a, b) => a.insertRank - b.insertRank) }));

/** The alerts' groups by their definitions (docs/admin-api.md): the reference the store must agree with. */
function reference(records: readonly LogRecord[]): AlertGroup[] {
  const sorted = [...records].sort((a, b) => a.ts - b.ts);
  const groups = new Map<string, AlertGroup>();
  const add = (kind: AlertGroup['kind'], r: LogRecord, subject: string, detail: string | null) => {
    const key = `${kind}|${r.connectionId}|${subject}`;
    const group = groups.get(key);
    const latest = { connectionName: r.connectionName, detail, lastTs: r.ts };
    if (group) Object.assign(group, latest, { count: group.count + 1 });
    else groups.set(key, { kind, connectionId: r.connectionId, subject, count: 1, firstTs: r.ts, ...latest });
  };
  for (const r of sorted) {
    if (r.status >= 400 && r.flags.length > 0)
      for (const type of new Set(r.flags.map((f) => f.type)))
        add('blocked', r, type, r.flags.find((f) => f.type === type)?.description ?? null);
    if (r.status < 400 && r.model !== null && r.costUsd === null && (r.totalTokens ?? 0) > 0)
      add('unpriced', r, r.model, null);
  }
  const bursts: AlertGroup[] = [];
  for (const connectionId of new Set(sorted.map((r) => r.connectionId))) {
    const errors = sorted.filter((r) => r.connectionId === connectionId && r.status >= 500);
    let run: LogRecord[] = [];
    const close = () => {
      const [first, last] = [run[0], run.at(-1)];
      if (first && last && run.length >= 3)
        bursts.push({
          kind: 'burst',
          connectionId,
          subject: [...new Set(run.map((r) => r.status))].sort().join(', '),
          count: run.length,
          firstTs: first.ts,
          lastTs: last.ts,
          connectionName: last.connectionName,
          detail: last.error,
        });
      run = [];
    };
    for (const error of errors) {
      const previous = run.at(-1);
      if (previous && error.ts - previous.ts > BURST_GAP_MS) close();
      run.push(error);
    }
    close();
  }
  return [...groups.values(), ...bursts];
}

const ordered = (groups: readonly AlertGroup[]) =>
  [...groups].sort((a, b) =>
    `${a.kind}|${a.connectionId}|${a.subject}|${a.firstTs}`.localeCompare(
      `${b.kind}|${b.connectionId}|${b.subject}|${b.firstTs}`,
    ),
  );

describe.each([sqliteStoreTarget(), postgresStoreTarget()])('alert rollups on $name', (target) => {
  let store: SqlStore;
  openForSuite(target, (opened) => {
    store = opened;
  });

  const write = async (written: readonly { record: LogRecord }[], batchSize: number) => {
    for (let i = 0; i < written.length; i += batchSize) {
      const batch = written.slice(i, i + batchSize).map((w) => w.record);
      await store.insertLogs(batch);
      await store.insertLogs(batch.slice(0, 1)); // a retried record counts once
    }
  };

  const expectAlerts = async (records: readonly LogRecord[], from: number, to: number, connectionId?: string) => {
    const inRange = records.filter(
      (r) => r.ts >= from && r.ts < to && (connectionId === undefined || r.connectionId === connectionId),
    );
    expect(ordered(await store.queryAlerts({ connectionId, from, to }))).toEqual(ordered(reference(inRange)));
  };

  it('answer any range as the records in it do, whatever order and batches they were written in', async () => {
    await fc.assert(
      fc.asyncProperty(
        recordsArb,
        fc.integer({ min: 1, max: 30 }),
        // A range from near one record to near another (the partial hours at its edges hold records), or anywhere.
        fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: -10 * MINUTE, max: 10 * MINUTE }), fc.boolean()),
        fc.integer({ min: -HOUR_MS, max: SPAN }),
        fc.integer({ min: 1, max: SPAN + HOUR_MS }),
        fc.constantFrom(0, MINUTE, HOUR_MS),
        fc.constantFrom(undefined, 'conn_a'),
        async ({ records, written }, batchSize, [i, j, jitter, nearRecords], start, length, unit, connectionId) => {
          await clearLogs(store);
          await write(written, batchSize);
          const align = (t: number) => (unit ? t - (t % unit) : t);
          const near = (k: number) => (records[k % records.length]?.ts ?? BASE) - BASE + jitter;
          const [a, b] = nearRecords ? [near(i), near(j)].sort((x, y) => x - y) : [start, start + length];
          const from = BASE + align(a ?? 0);
          const to = BASE + align(b ?? 0);
          if (from >= to) return;
          await expectAlerts(records, from, to, connectionId);
          await expectAlerts(records, BASE - DAY_MS, BASE + SPAN + DAY_MS, connectionId);
        },
      ),
      { numRuns: target.name === 'postgres' ? 25 : 60 },
    );
  });

  it('joins runs that a late record brings within the gap into one burst', async () => {
    await clearLogs(store);
    const error = (minutes: number) => logRecord({ ts: BASE + minutes * MINUTE, status: 502, error: `at ${minutes}` });
    // Two runs 8 minutes apart (too far), each too short for a burst, until the record between them arrives.
    await store.insertLogs([error(0), error(1)]);
    await store.insertLogs([error(9)]);
    expect(await store.queryAlerts({ from: BASE, to: BASE + HOUR_MS })).toEqual([]);
    await store.insertLogs([error(5)]);
    expect(await store.queryAlerts({ from: BASE, to: BASE + HOUR_MS })).toEqual([
      {
        kind: 'burst',
        connectionId: 'conn_a',
        subject: '502',
        count: 4,
        firstTs: BASE,
        lastTs: BASE + 9 * MINUTE,
        connectionName: 'a',
        detail: 'at 9',
      },
    ]);
    // A range that cuts the burst counts its records inside the range only.
    expect(await store.queryAlerts({ from: BASE + 2 * MINUTE, to: BASE + HOUR_MS })).toEqual([]);
    expect(await store.queryAlerts({ from: BASE + MINUTE, to: BASE + 9 * MINUTE })).toEqual([]);
    expect(await store.queryAlerts({ from: BASE + MINUTE, to: BASE + 10 * MINUTE })).toMatchObject([
      { kind: 'burst', count: 3, firstTs: BASE + MINUTE, lastTs: BASE + 9 * MINUTE },
    ]);
  });

  it('merges the runs of writers writing at once on the same connections, every error once', async () => {
    await clearLogs(store);
    // Each batch holds an error every 6 minutes on both connections, too far apart for a run; together the
    // batches hold one a minute: one run per connection, made only if each writer sees the others' runs.
    const batches = Array.from({ length: 6 }, (_, b) =>
      Array.from({ length: 40 }, (_, i) =>
        ['conn_a', 'conn_b'].map((connectionId, c) =>
          logRecord({
            ts: BASE + (i * 6 + b) * MINUTE + c,
            connectionId,
            status: 500 + (b % 3),
            error: `error ${b}`,
          }),
        ),
      ).flat(),
    );
    await Promise.all(batches.map((batch) => store.insertLogs(batch)));
    const records = batches.flat();
    await expectAlerts(records, BASE - HOUR_MS, BASE + DAY_MS);
    expect(await store.queryAlerts({ from: BASE - HOUR_MS, to: BASE + DAY_MS })).toMatchObject([
      { kind: 'burst', count: 240, subject: '500, 501, 502' },
      { kind: 'burst', count: 240, subject: '500, 501, 502' },
    ]);
  });

  it('fills the alert rollups from the log when a store upgrades to them', async () => {
    await clearLogs(store);
    const { records, written } = fc.sample(recordsArb, { numRuns: 1, seed: 16 })[0] ?? { records: [], written: [] };
    await write(written, 7);
    for (const table of ['log_alert_hours', 'log_alert_days', 'log_error_runs'])
      await sql`drop table ${sql.table(table)}`.execute(store.db);
    // Migrations from 0013 on run again: 0014's views go too.
    for (const view of ['requests', 'usage_hourly', 'usage_daily'])
      await sql`drop view if exists ${sql.table(view)}`.execute(store.db);
    await sql`delete from kysely_migration where name >= '0013'`.execute(store.db);
    await store.migrate();
    await expectAlerts(records, BASE - DAY_MS, BASE + SPAN + DAY_MS);
    await expectAlerts(records, BASE + 30 * MINUTE, BASE + 40 * HOUR_MS + 10 * MINUTE, 'conn_b');
  });

  it('forgets runs too short for a burst with the records retention deletes, and keeps the bursts', async () => {
    await clearLogs(store);
    const error = (minutes: number) => logRecord({ ts: BASE + minutes * MINUTE, status: 500 });
    await store.insertLogs([error(0), error(1), error(2), error(30), error(60)]);
    await store.deleteLogsBefore(BASE + 45 * MINUTE);
    const { rows } = await sql<{ count: number }>`select count from log_error_runs order by last_ts`.execute(store.db);
    expect(rows.map((row) => Number(row.count))).toEqual([3, 1]);
    expect(await store.queryAlerts({ from: BASE, to: BASE + HOUR_MS })).toMatchObject([{ kind: 'burst', count: 3 }]);
  });
});
