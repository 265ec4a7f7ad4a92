// Rollups against a full recomputation from the raw records, on SQLite and PostgreSQL:
// random records written in random batches (retries included), then the rollup table and
// the bucketed aggregation must equal what summing the raw records gives — summed here in
// plain JS, written apart from the helpers that write the rollups.
import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { clearLogs, openForSuite, postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import { DAY_MS, HOUR_MS, type LogRecord } from '../domain.js';
import { newRequestId } from '../exchange.js';
import type { AggregateRow, GroupKey, Totals } from './rollups.js';
import type { SqlStore } from './sql-store.js';

const BASE = Date.UTC(2026, 2, 28, 20); // spans a European DST change
/** Records fall in the 80 hours after BASE: two whole UTC days and parts of two more. */
const SPAN = 80 * HOUR_MS;

const recordArb = fc
  .record({
    offset: fc.integer({ min: 0, max: SPAN }),
    connectionId: fc.constantFrom('conn_a', 'conn_b', null),
    model: fc.constantFrom('gpt-4o-mini', 'gpt-4o', null),
    operation: fc.constantFrom('chat' as const, 'embedding' as const),
    provider: fc.constantFrom('openai', 'anthropic'),
    endUser: fc.constantFrom('alice', 'bob', null),
    status: fc.constantFrom(200, 200, 422, 502),
    costUsd: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
    promptTokens: fc.option(fc.nat(5000), { nil: null }),
    completionTokens: fc.option(fc.nat(5000), { nil: null }),
    latencyMs: fc.double({ min: 0, max: 10_000, noNaN: true }),
    flagged: fc.boolean(),
    moderated: fc.boolean(),
  })
  .map(
    (r): LogRecord =>
      logRecord({
        id: newRequestId(BASE + r.offset),
        ts: BASE + r.offset,
        connectionId: r.connectionId,
        model: r.model,
        operation: r.operation,
        provider: r.provider,
        endUser: r.endUser,
        status: r.status,
        error: r.status >= 400 ? 'failed' : null,
        costUsd: r.costUsd,
        promptTokens: r.promptTokens,
        completionTokens: r.completionTokens,
        totalTokens: (r.promptTokens ?? 0) + (r.completionTokens ?? 0),
        latencyMs: r.latencyMs,
        flags: r.flagged ? [{ type: 'x', description: 'y' }] : [],
        moderated: r.moderated,
      }),
  );

/**
 * What a group of records sums to, by the definitions of the stats (SPEC §5): an error is a status
 * of 400 or more or an error text, flagged is any flag, unpriced is a record without a cost.
 */
function sumOf(records: readonly LogRecord[]): Totals {
  const total = (pick: (r: LogRecord) => number) => records.reduce((sum, r) => sum + pick(r), 0);
  return {
    requests: records.length,
    errors: records.filter((r) => r.status >= 400 || r.error !== null).length,
    flagged: records.filter((r) => r.flags.length > 0).length,
    moderated: records.filter((r) => r.moderated).length,
    promptTokens: total((r) => r.promptTokens ?? 0),
    completionTokens: total((r) => r.completionTokens ?? 0),
    totalTokens: total((r) => r.totalTokens ?? 0),
    costUsd: total((r) => r.costUsd ?? 0),
    unpriced: records.filter((r) => r.costUsd === null).length,
    latencyMsSum: total((r) => r.latencyMs),
    lastTs: Math.max(...records.map((r) => r.ts)),
  };
}

/** The records grouped by `keyOf`, each group summed. */
function sumsBy(records: readonly LogRecord[], keyOf: (r: LogRecord) => string): Map<string, Totals> {
  const groups = new Map<string, LogRecord[]>();
  for (const r of records) groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r]);
  return new Map([...groups].map(([key, group]) => [key, sumOf(group)]));
}

const hourStart = (ts: number) => Math.floor(ts / HOUR_MS) * HOUR_MS;
const dayStart = (ts: number) => Math.floor(ts / DAY_MS) * DAY_MS;

/** Sums the records straight from memory per bucket and group: the reference the store must agree with. */
function recompute(records: readonly LogRecord[], boundaries: number[], groupBy: GroupKey[]) {
  const first = boundaries[0] ?? 0;
  const last = boundaries.at(-1) ?? 0;
  const inRange = records.filter((r) => r.ts >= first && r.ts < last);
  const bucketOf = (ts: number) => boundaries.findLastIndex((b) => b <= ts);
  return sumsBy(inRange, (r) => `${bucketOf(r.ts)}|${groupBy.map((k) => r[k] ?? '-').join('|')}`);
}

function keyed(rows: AggregateRow[], groupBy: GroupKey[]) {
  return new Map(rows.map((row) => [`${row.bucket}|${groupBy.map((k) => row.keys[k] ?? '-').join('|')}`, row]));
}

function expectSameTotals(actual: Totals | undefined, expected: Totals) {
  expect(actual).toBeDefined();
  const { costUsd, latencyMsSum, ...counts } = expected;
  expect(actual).toMatchObject(counts);
  expect(actual?.costUsd).toBeCloseTo(costUsd, 6);
  expect(actual?.latencyMsSum).toBeCloseTo(latencyMsSum, 4);
}

/** The store's rows hold exactly the groups of the reference, each with its sums. */
function expectSameAggregates(rows: AggregateRow[], reference: Map<string, Totals>, groupBy: GroupKey[]) {
  const actual = keyed(rows, groupBy);
  expect([...actual.keys()].sort()).toEqual([...reference.keys()].sort());
  for (const [key, totals] of reference) expectSameTotals(actual.get(key), totals);
}

const targets = [sqliteStoreTarget(), postgresStoreTarget()];

describe.each(targets)('rollups on $name', (target) => {
  let store: SqlStore;
  openForSuite(target, (opened) => {
    store = opened;
  });

  const reset = () => clearLogs(store);

  /** Each rollup table holds exactly the sums of the records under its key ('' for none). */
  const expectRollupTablesOf = async (records: readonly LogRecord[], only?: readonly string[]) => {
    const hour = (r: LogRecord) => hourStart(r.ts);
    const day = (r: LogRecord) => dayStart(r.ts);
    const detail = (r: LogRecord) => `${r.connectionId ?? ''}|${r.model ?? ''}|${r.operation}|${r.provider}`;
    const overall = (r: LogRecord) => `${r.model ?? ''}|${r.operation}|${r.provider}`;
    const user = (r: LogRecord) => `${r.connectionId ?? ''}|${r.endUser ?? ''}`;
    const tables = {
      logHourTotals: [
        (r: LogRecord) => `${hour(r)}|${detail(r)}|`,
        ['hour', 'connectionId', 'model', 'operation', 'provider', 'endUser'],
      ],
      logDayTotals: [
        (r: LogRecord) => `${day(r)}|${detail(r)}`,
        ['day', 'connectionId', 'model', 'operation', 'provider'],
      ],
      logHourOverall: [(r: LogRecord) => `${hour(r)}|${overall(r)}`, ['hour', 'model', 'operation', 'provider']],
      logDayOverall: [(r: LogRecord) => `${day(r)}|${overall(r)}`, ['day', 'model', 'operation', 'provider']],
      logHourConnections: [(r: LogRecord) => `${r.connectionId ?? ''}|${hour(r)}`, ['connectionId', 'hour']],
      logDayConnections: [(r: LogRecord) => `${r.connectionId ?? ''}|${day(r)}`, ['connectionId', 'day']],
      logUserHours: [(r: LogRecord) => `${hour(r)}|${user(r)}`, ['hour', 'connectionId', 'endUser']],
    } as const;
    for (const [table, [keyOf, columns]] of Object.entries(tables)) {
      if (only && !only.includes(table)) continue;
      const stored = (await store.db
        .selectFrom(table as keyof typeof tables)
        .selectAll()
        .execute()) as unknown as Array<Record<string, unknown> & Totals>;
      const expected = sumsBy(records, keyOf);
      expect(stored, table).toHaveLength(expected.size);
      const byKey = new Map(stored.map((r) => [columns.map((c) => r[c]).join('|'), r]));
      for (const [key, e] of expected) {
        const s = byKey.get(key);
        expectSameTotals(s && { ...s, lastTs: Number(s.lastTs) }, e);
      }
    }
  };

  /** Back to the hourly rollups before 0008: the same sums without the provider column. */
  /** Undoes migration 0010 (the indexes of the Logs filters). */
  const dropLogFilterIndexes = async () => {
    for (const index of [
      'logs_operation_id',
      'logs_provider_id',
      'logs_errors_id',
      'logs_flagged_id',
      'logs_unpriced_id',
    ])
      await sql`drop index ${sql.id(index)}`.execute(store.db);
  };

  /** Undoes migrations 0013 and 0014: the alert rollups, and the views on the tables of earlier ones. */
  const undoAlertRollups = async () => {
    for (const view of ['requests', 'usage_hourly', 'usage_daily'])
      await sql`drop view if exists ${sql.table(view)}`.execute(store.db);
    for (const table of ['log_alert_hours', 'log_alert_days', 'log_error_runs'])
      await sql`drop table ${sql.table(table)}`.execute(store.db);
  };

  /** Undoes migration 0011: the per-user hourly rollups with every key again, the tables shaped by query gone. */
  const undoRollupsByShape = async () => {
    for (const table of [
      'log_day_totals',
      'log_hour_overall',
      'log_day_overall',
      'log_hour_connections',
      'log_day_connections',
      'log_user_hours',
      'log_user_windows',
    ])
      await sql`drop table ${sql.table(table)}`.execute(store.db);
    await sql`delete from settings where key = 'user_windows_as_of'`.execute(store.db);
    await sql`drop index logs_errors_connection_id`.execute(store.db);
    await sql`drop index logs_trace_id`.execute(store.db);
    await sql`create index logs_trace_id on logs (trace_id)`.execute(store.db);
    await sql`create index logs_ts on logs (ts)`.execute(store.db);
    await sql`drop index logs_end_user_day`.execute(store.db);
    await sql`create index logs_end_user_id on logs (end_user, id)`.execute(store.db);
    await sql`drop index logs_unpriced_connection_id`.execute(store.db);
    await sql`create table log_rollups as select ts - ts % 3600000 as hour, coalesce(connection_id, '') as connection_id,
      coalesce(model, '') as model, operation, provider, coalesce(end_user, '') as end_user, count(*) as requests,
      sum(case when status >= 400 or error is not null then 1 else 0 end) as errors,
      sum(case when flags <> '[]' then 1 else 0 end) as flagged, sum(moderated) as moderated,
      coalesce(sum(prompt_tokens), 0) as prompt_tokens, coalesce(sum(completion_tokens), 0) as completion_tokens,
      coalesce(sum(total_tokens), 0) as total_tokens, coalesce(sum(cost_usd), 0) as cost_usd,
      sum(case when cost_usd is null then 1 else 0 end) as unpriced, sum(latency_ms) as latency_ms_sum, max(ts) as last_ts
      from logs group by ts - ts % 3600000, coalesce(connection_id, ''), coalesce(model, ''), operation, provider,
      coalesce(end_user, '')`.execute(store.db);
    await sql`create table log_user_days as select hour - hour % 86400000 as day, connection_id, end_user,
      sum(requests) as requests from log_rollups group by hour - hour % 86400000, connection_id, end_user`.execute(
      store.db,
    );
  };

  const rollupsWithoutProvider = async () => {
    for (const table of ['log_rollups', 'log_hour_totals']) {
      await sql`create table ${sql.table(`${table}_old`)} as select hour, connection_id, model, operation, end_user,
        sum(requests) as requests, sum(errors) as errors, sum(flagged) as flagged, sum(moderated) as moderated,
        sum(prompt_tokens) as prompt_tokens, sum(completion_tokens) as completion_tokens,
        sum(total_tokens) as total_tokens, sum(cost_usd) as cost_usd, sum(unpriced) as unpriced,
        sum(latency_ms_sum) as latency_ms_sum, max(last_ts) as last_ts
        from ${sql.table(table)} group by hour, connection_id, model, operation, end_user`.execute(store.db);
      await sql`drop table ${sql.table(table)}`.execute(store.db);
      await sql`alter table ${sql.table(`${table}_old`)} rename to ${sql.table(table)}`.execute(store.db);
    }
  };

  const insertInBatches = async (records: readonly LogRecord[], batchSize: number) => {
    for (let i = 0; i < records.length; i += batchSize) {
      const batch = records.slice(i, i + batchSize);
      await store.insertLogs(batch);
      await store.insertLogs(batch.slice(0, 1)); // a retried record counts once
    }
  };

  it('equal a full recomputation from the raw records, for any batches and any buckets', async () => {
    const groupings: GroupKey[][] = [
      [],
      ['model'],
      ['connectionId'],
      ['connectionId', 'endUser'],
      ['operation'],
      ['provider'],
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 25 }),
        fc.uniqueArray(fc.integer({ min: -HOUR_MS, max: SPAN + 2 * HOUR_MS }), { minLength: 2, maxLength: 8 }),
        fc.constantFrom(...groupings),
        fc.boolean(),
        fc.constantFrom(undefined, 'conn_a'),
        async (records, batchSize, cuts, groupBy, alignToHours, connectionId) => {
          await reset();
          await insertInBatches(records, batchSize);
          await expectRollupTablesOf(records);

          const boundaries = cuts
            .map((c) => BASE + (alignToHours ? c - (c % HOUR_MS) : c))
            .sort((a, b) => a - b)
            .filter((b, i, all) => i === 0 || b !== all[i - 1]);
          if (boundaries.length < 2) return;
          const rows = await store.aggregateLogs({ boundaries, groupBy, connectionId });
          const inConnection = records.filter((r) => connectionId === undefined || r.connectionId === connectionId);
          expectSameAggregates(rows, recompute(inConnection, boundaries, groupBy), groupBy);
        },
      ),
      { numRuns: target.name === 'postgres' ? 15 : 40 },
    );
  });

  it('sums end users over multi-day ranges (whole days, edge hours, partial hours) as the records do', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: -HOUR_MS, max: SPAN }),
        fc.integer({ min: 1, max: SPAN + HOUR_MS }),
        fc.constantFrom(undefined, 'alice'),
        fc.boolean(),
        async (records, batchSize, from, length, endUser, alignToHours) => {
          await reset();
          await insertInBatches(records, batchSize);
          const align = (t: number) => (alignToHours ? t - (t % HOUR_MS) : t);
          const boundaries = [BASE + align(from), BASE + align(from + length)];
          if (boundaries[0] === boundaries[1]) return;
          const groupBy: GroupKey[] = ['endUser', 'connectionId'];
          const rows = await store.aggregateLogs({ boundaries, groupBy, withEndUser: true, endUser });
          const withUser = records.filter(
            (r) => r.endUser !== null && (endUser === undefined || r.endUser === endUser),
          );
          expectSameAggregates(rows, recompute(withUser, boundaries, groupBy), groupBy);
        },
      ),
      { numRuns: target.name === 'postgres' ? 15 : 40 },
    );
  });

  it('fills the hourly user sums from the hourly rollups when a store upgrades to them', async () => {
    await reset();
    const records = fc.sample(recordArb, { numRuns: 200, seed: 7 });
    await store.insertLogs(records);
    // Back to the schema before 0004, with the hourly rollups already holding the records:
    // the tables of 0004 and of every later migration go.
    await undoAlertRollups();
    await undoRollupsByShape();
    for (const table of ['log_user_days', 'refusals', 'revoked_sessions', 'edge_tokens'])
      await sql`drop table ${sql.table(table)}`.execute(store.db);
    await dropLogFilterIndexes();
    await sql`alter table connections drop column targets`.execute(store.db);
    await sql`alter table logs drop column edge`.execute(store.db);
    await rollupsWithoutProvider();
    await sql`delete from kysely_migration where name >= '0004'`.execute(store.db);
    await store.migrate();
    // The user tables: the provider keys of the others read as the records' only provider, or openai (0008).
    await expectRollupTablesOf(records, ['logUserHours']);
  });

  it('keys the rollups of an older store by the provider of their records, or openai where the log has none', async () => {
    await reset();
    const hour = BASE + 5 * HOUR_MS;
    const records = [
      logRecord({ ts: hour + 1, connectionId: 'conn_a', model: 'claude', provider: 'anthropic', costUsd: 1 }),
      logRecord({ ts: hour + 2, connectionId: 'conn_a', model: 'claude', provider: 'anthropic', costUsd: 2 }),
      logRecord({ ts: hour + 3, connectionId: 'conn_a', model: 'gemini-2.0-flash', provider: 'gemini', costUsd: 4 }),
      logRecord({ ts: hour + 4, connectionId: 'conn_b', model: 'gpt-4o', provider: 'openai', costUsd: 8 }),
      // Its record goes before the upgrade (retention): its rollup row reads as openai.
      logRecord({ ts: hour + 5, connectionId: 'conn_c', model: 'claude', provider: 'anthropic', costUsd: 16 }),
    ];
    await store.insertLogs(records);
    await undoAlertRollups();
    await undoRollupsByShape();
    await sql`delete from logs where connection_id = 'conn_c'`.execute(store.db);
    await rollupsWithoutProvider();
    // The later migrations (edge proxies, the log filter indexes) go too, to run again after 0008.
    await dropLogFilterIndexes();
    await sql`drop table edge_tokens`.execute(store.db);
    await sql`alter table logs drop column edge`.execute(store.db);
    await sql`delete from kysely_migration where name >= '0008'`.execute(store.db);
    await store.migrate();
    const rows = await store.aggregateLogs({ boundaries: [BASE, BASE + SPAN], groupBy: ['provider'] });
    const byProvider = Object.fromEntries(rows.map((r) => [r.keys.provider, [r.requests, r.costUsd]]));
    expect(byProvider).toEqual({ anthropic: [2, 3], gemini: [1, 4], openai: [2, 24] });
    // Later records add to the migrated rows.
    await store.insertLogs([
      logRecord({ ts: hour + 6, connectionId: 'conn_a', model: 'claude', provider: 'anthropic' }),
    ]);
    const stored = await store.db
      .selectFrom('logHourTotals')
      .selectAll()
      .where('connectionId', '=', 'conn_a')
      .execute();
    expect(stored.map((r) => `${r.model}:${r.provider}:${r.requests}`).sort()).toEqual([
      'claude:anthropic:3',
      'gemini-2.0-flash:gemini:1',
    ]);
  });

  it('sums daily buckets of a zone off the whole hours over 600 days (a raw span at every boundary)', async () => {
    await reset();
    const offset = 5.5 * HOUR_MS; // Asia/Kolkata: every boundary cuts an hour
    const first = Date.UTC(2024, 0, 1) - offset;
    const boundaries = Array.from({ length: 601 }, (_, i) => first + i * DAY_MS);
    const records = boundaries
      .slice(0, -1)
      .flatMap((b, i) => [logRecord({ ts: b + (i % 2) * 60_000 }), logRecord({ ts: b - 60_000 + DAY_MS })]);
    await store.insertLogs(records);
    const rows = await store.aggregateLogs({ boundaries, groupBy: [] });
    expect(rows).toHaveLength(600);
    expect(rows.every((row) => row.requests === 2)).toBe(true);
  });

  it('filters by connection and end user and leaves out records without one', async () => {
    await reset();
    const records = [
      logRecord({ ts: BASE + 10, connectionId: 'conn_a', endUser: 'alice' }),
      logRecord({ ts: BASE + HOUR_MS * 2 + 5, connectionId: 'conn_a', endUser: null }),
      logRecord({ ts: BASE + HOUR_MS * 3, connectionId: 'conn_b', endUser: 'alice' }),
    ];
    await store.insertLogs(records);
    const boundaries = [BASE, BASE + 5 * HOUR_MS];
    const byConnection = await store.aggregateLogs({ boundaries, groupBy: [], connectionId: 'conn_a' });
    expect(byConnection.map((r) => r.requests)).toEqual([2]);
    const users = await store.aggregateLogs({ boundaries, groupBy: ['endUser', 'connectionId'], withEndUser: true });
    expect(users.map((r) => `${r.keys.endUser}@${r.keys.connectionId}:${r.requests}`).sort()).toEqual([
      'alice@conn_a:1',
      'alice@conn_b:1',
    ]);
  });
});
