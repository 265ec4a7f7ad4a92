// Rollups against a full recomputation from the raw records, on SQLite and PostgreSQL:
// random records written in random batches (retries included), then the rollup table and
// the bucketed aggregation must equal what summing the raw records gives.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { postgresStoreTarget, sqliteStoreTarget } from '../../test/store-targets.js';
import type { LogRecord } from '../domain.js';
import { type AggregateRow, addTotals, type GroupKey, HOUR_MS, rollupsOf, type Totals, zeroTotals } from './rollups.js';
import type { SqlStore } from './sql-store.js';

const BASE = Date.UTC(2026, 2, 28, 20); // spans a European DST change

const recordArb = fc
  .record({
    offset: fc.integer({ min: 0, max: 30 * HOUR_MS }),
    connectionId: fc.constantFrom('conn_a', 'conn_b', null),
    model: fc.constantFrom('gpt-4o-mini', 'gpt-4o', null),
    operation: fc.constantFrom('chat' as const, 'embedding' as const),
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
        id: `req_${randomBytes(8).toString('hex')}`,
        ts: BASE + r.offset,
        connectionId: r.connectionId,
        model: r.model,
        operation: r.operation,
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

/** Sums the records straight from memory: the reference the store must agree with. */
function recompute(records: readonly LogRecord[], boundaries: number[], groupBy: GroupKey[]) {
  const sums = new Map<string, Totals>();
  for (const r of records) {
    if (r.ts < (boundaries[0] ?? 0) || r.ts >= (boundaries.at(-1) ?? 0)) continue;
    let bucket = 0;
    while ((boundaries[bucket + 1] ?? Number.POSITIVE_INFINITY) <= r.ts) bucket++;
    const key = `${bucket}|${groupBy.map((k) => r[k] ?? '-').join('|')}`;
    const row = sums.get(key) ?? zeroTotals();
    addTotals(row, rollupsOf([r])[0] ?? zeroTotals());
    sums.set(key, row);
  }
  return sums;
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

const targets = [sqliteStoreTarget(), postgresStoreTarget()];

describe.each(targets)('rollups on $name', (target) => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await target.open();
  });
  afterAll(async () => {
    await store.close();
    await target.cleanup();
  });

  const reset = async () => {
    await sql`delete from logs`.execute(store.db);
    await sql`delete from log_rollups`.execute(store.db);
    await sql`delete from log_hour_totals`.execute(store.db);
  };

  it('equal a full recomputation from the raw records, for any batches and any buckets', async () => {
    const groupings: GroupKey[][] = [[], ['model'], ['connectionId', 'endUser'], ['operation']];
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 25 }),
        fc.uniqueArray(fc.integer({ min: -HOUR_MS, max: 32 * HOUR_MS }), { minLength: 2, maxLength: 8 }),
        fc.constantFrom(...groupings),
        fc.boolean(),
        async (records, batchSize, cuts, groupBy, alignToHours) => {
          await reset();
          for (let i = 0; i < records.length; i += batchSize) {
            const batch = records.slice(i, i + batchSize);
            await store.insertLogs(batch);
            await store.insertLogs(batch.slice(0, 1)); // a retried record counts once
          }
          for (const [table, perUser] of [
            ['logRollups', true],
            ['logHourTotals', false],
          ] as const) {
            const stored = await store.db.selectFrom(table).selectAll().execute();
            const expected = rollupsOf(records, perUser);
            expect(stored).toHaveLength(expected.length);
            const storedByKey = new Map(
              stored.map((r) => [`${r.hour}|${r.connectionId}|${r.model}|${r.operation}|${r.endUser}`, r]),
            );
            for (const e of expected) {
              const s = storedByKey.get(`${e.hour}|${e.connectionId}|${e.model}|${e.operation}|${e.endUser}`);
              expectSameTotals(s && { ...s, lastTs: Number(s.lastTs) }, e);
            }
          }

          const boundaries = cuts
            .map((c) => BASE + (alignToHours ? c - (c % HOUR_MS) : c))
            .sort((a, b) => a - b)
            .filter((b, i, all) => i === 0 || b !== all[i - 1]);
          if (boundaries.length < 2) return;
          const rows = await store.aggregateLogs({ boundaries, groupBy });
          const reference = recompute(records, boundaries, groupBy);
          const actual = keyed(rows, groupBy);
          expect([...actual.keys()].sort()).toEqual([...reference.keys()].sort());
          for (const [key, totals] of reference) expectSameTotals(actual.get(key), totals);
        },
      ),
      { numRuns: target.name === 'postgres' ? 15 : 40 },
    );
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
