// Hourly rollups of the request log (connection × model × operation × provider × end user), written by
// the log writer in the same transaction as the records, and the aggregation the stats
// endpoints run: whole hours from the rollups, only the partial hours at the edges of a
// range (or of a bucket not aligned to whole hours) from the raw records.
import {
  type InsertObject,
  type Kysely,
  type OnConflictTables,
  type OnConflictUpdateDatabase,
  type RawBuilder,
  sql,
  type Transaction,
  type UpdateObject,
} from 'kysely';
import { DAY_MS, HOUR_MS, type LogRecord } from '../domain.js';
import type { Database, LogRollupsTable, LogUserDaysTable } from './schema.js';

const floorTo = (unit: number) => (ts: number) => ts - (((ts % unit) + unit) % unit);
export const hourOf = floorTo(HOUR_MS);
const dayOf = floorTo(DAY_MS);
const ceilHour = (ts: number) => (hourOf(ts) === ts ? ts : hourOf(ts) + HOUR_MS);
const ceilDay = (ts: number) => (dayOf(ts) === ts ? ts : dayOf(ts) + DAY_MS);

/** Key columns a query can group by; they are columns of both tables. */
export type GroupKey = 'connectionId' | 'model' | 'operation' | 'provider' | 'endUser';
export const GROUP_KEYS: readonly GroupKey[] = ['connectionId', 'model', 'operation', 'provider', 'endUser'];

export interface AggregateQuery {
  connectionId?: string;
  endUser?: string;
  /** Only records with an end user (the users table leaves the others out). */
  withEndUser?: boolean;
  /** Ascending instants: bucket i is [boundaries[i], boundaries[i+1]). At least two. */
  boundaries: readonly number[];
  groupBy: readonly GroupKey[];
}

/** The sums a rollup row holds, without its key. */
export type Totals = Omit<LogRollupsTable, 'hour' | 'connectionId' | 'model' | 'operation' | 'provider' | 'endUser'>;

export interface AggregateRow extends Totals {
  bucket: number;
  /** The group's key values; null where the record had none. */
  keys: Partial<Record<GroupKey, string | null>>;
}

/** Adds one record to a row's sums. */
function addRecord(row: Totals, r: LogRecord): void {
  row.requests += 1;
  if (r.status >= 400 || r.error !== null) row.errors += 1;
  if (r.flags.length > 0) row.flagged += 1;
  if (r.moderated) row.moderated += 1;
  row.promptTokens += r.promptTokens ?? 0;
  row.completionTokens += r.completionTokens ?? 0;
  row.totalTokens += r.totalTokens ?? 0;
  if (r.costUsd === null) row.unpriced += 1;
  else row.costUsd += r.costUsd;
  row.latencyMsSum += r.latencyMs;
  if (r.ts > row.lastTs) row.lastTs = r.ts;
}

/** Sums records into one row per id; `rowOf` makes a new row from its first record. */
function sumBy<Row extends Totals>(
  records: readonly LogRecord[],
  idOf: (r: LogRecord) => string,
  rowOf: (r: LogRecord) => Row,
): Row[] {
  const rows = new Map<string, Row>();
  for (const r of records) {
    const id = idOf(r);
    let row = rows.get(id);
    if (!row) {
      row = rowOf(r);
      rows.set(id, row);
    }
    addRecord(row, r);
  }
  return [...rows.values()];
}

/** The hourly rollup rows a batch of records adds up to; `perUser: false` folds every end user into ''. */
export function rollupsOf(records: readonly LogRecord[], perUser = true): LogRollupsTable[] {
  const endUserOf = (r: LogRecord) => (perUser ? (r.endUser ?? '') : '');
  return sumBy(
    records,
    (r) =>
      `${hourOf(r.ts)}\u0000${r.connectionId ?? ''}\u0000${r.model ?? ''}\u0000${r.operation}\u0000${r.provider}\u0000${endUserOf(r)}`,
    (r) => ({
      ...zeroTotals(),
      hour: hourOf(r.ts),
      connectionId: r.connectionId ?? '',
      model: r.model ?? '',
      operation: r.operation,
      provider: r.provider,
      endUser: endUserOf(r),
    }),
  );
}

/** The daily connection × end user rows a batch of records adds up to. */
export function userDaysOf(records: readonly LogRecord[]): LogUserDaysTable[] {
  return sumBy(
    records,
    (r) => `${dayOf(r.ts)}\u0000${r.connectionId ?? ''}\u0000${r.endUser ?? ''}`,
    (r) => ({ ...zeroTotals(), day: dayOf(r.ts), connectionId: r.connectionId ?? '', endUser: r.endUser ?? '' }),
  );
}

export function zeroTotals(): Totals {
  return {
    requests: 0,
    errors: 0,
    flagged: 0,
    moderated: 0,
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    costUsd: 0,
    unpriced: 0,
    latencyMsSum: 0,
    lastTs: 0,
  };
}

/** Rows per statement: 17 columns each, well under PostgreSQL's bind parameter limit. */
const UPSERT_CHUNK = 1000;

export type RollupTable = 'logRollups' | 'logHourTotals' | 'logUserDays';

/** Writes rows into a rollup table, adding each to the row with the same key if there is one. */
export type RollupUpsert = <T extends RollupTable>(
  table: T,
  key: ReadonlyArray<keyof Database[T] & string>,
  rows: ReadonlyArray<Database[T]>,
) => Promise<void> | void;

/** Adds the batch's sums to every rollup table (inside the caller's transaction). */
export async function addRollups(upsert: RollupUpsert, records: readonly LogRecord[]): Promise<void> {
  const hourKey = ['hour', 'connectionId', 'model', 'operation', 'provider', 'endUser'] as const;
  await upsert('logRollups', hourKey, rollupsOf(records, true));
  await upsert('logHourTotals', hourKey, rollupsOf(records, false));
  await upsert('logUserDays', ['day', 'connectionId', 'endUser'], userDaysOf(records));
}

/** The columns an upsert adds up; `lastTs` takes the later of the two. */
export const SUMMED = [
  'requests',
  'errors',
  'flagged',
  'moderated',
  'promptTokens',
  'completionTokens',
  'totalTokens',
  'costUsd',
  'unpriced',
  'latencyMsSum',
] as const;

/** The upsert through Kysely, for either database (multi-row statements). */
export const kyselyUpsert =
  (trx: Transaction<Database>): RollupUpsert =>
  (table, key, rows) =>
    upsertRollups(trx, table, key, rows);

async function upsertRollups<T extends RollupTable>(
  trx: Transaction<Database>,
  table: T,
  key: ReadonlyArray<keyof Database[T] & string>,
  rows: ReadonlyArray<Database[T]>,
): Promise<void> {
  const stored = (column: string) => sql.ref(`${table}.${column}`);
  const excluded = (column: string) => sql.ref(`excluded.${column}`);
  const updates = {
    ...Object.fromEntries(SUMMED.map((c) => [c, sql`${stored(c)} + ${excluded(c)}`])),
    lastTs: sql<number>`case when ${stored('lastTs')} > ${excluded('lastTs')} then ${stored('lastTs')} else ${excluded('lastTs')} end`,
  };
  for (let start = 0; start < rows.length; start += UPSERT_CHUNK) {
    // Kysely cannot check rows and updates against a table named by a type parameter;
    // the signature ties them to the table instead.
    await trx
      .insertInto(table)
      .values(rows.slice(start, start + UPSERT_CHUNK) as InsertObject<Database, T>[])
      .onConflict((oc) =>
        oc
          .columns(key)
          .doUpdateSet(updates as unknown as UpdateObject<OnConflictUpdateDatabase<Database, T>, OnConflictTables<T>>),
      )
      .execute();
  }
}

/** Instants where the given bucket boundaries fall inside an hour rather than on its start. */
function rawIntervals(boundaries: readonly number[]): Array<[number, number]> {
  const first = boundaries[0] ?? 0;
  const last = boundaries.at(-1) ?? 0;
  const intervals: Array<[number, number]> = [];
  const add = (from: number, to: number) => {
    const a = Math.max(from, first);
    const b = Math.min(to, last);
    if (a >= b) return;
    const previous = intervals.at(-1);
    if (previous && previous[1] >= a) previous[1] = Math.max(previous[1], b);
    else intervals.push([a, b]);
  };
  for (const b of boundaries) if (hourOf(b) !== b) add(hourOf(b), hourOf(b) + HOUR_MS);
  return intervals;
}

/** Index of the bucket holding `ts`: the last boundary at or before it. */
function bucketOf(boundaries: readonly number[], ts: number): number {
  let lo = 0;
  let hi = boundaries.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((boundaries[mid] ?? 0) <= ts) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const COLUMN: Record<GroupKey, string> = {
  connectionId: 'connection_id',
  model: 'model',
  operation: 'operation',
  provider: 'provider',
  endUser: 'end_user',
};

/** The WHERE conditions on keys; rollups spell "none" as '', the log as null. */
function keyConditions(q: AggregateQuery, table: 'logs' | 'rollups') {
  const conditions = [];
  if (q.connectionId !== undefined) conditions.push(sql`connection_id = ${q.connectionId}`);
  if (q.endUser !== undefined) conditions.push(sql`end_user = ${q.endUser}`);
  if (q.withEndUser) conditions.push(table === 'logs' ? sql`end_user is not null` : sql`end_user <> ''`);
  return conditions;
}

const SUMS_FROM_ROLLUPS = sql`sum(requests) as requests, sum(errors) as errors, sum(flagged) as flagged,
  sum(moderated) as moderated, sum(prompt_tokens) as prompt_tokens, sum(completion_tokens) as completion_tokens,
  sum(total_tokens) as total_tokens, sum(cost_usd) as cost_usd, sum(unpriced) as unpriced,
  sum(latency_ms_sum) as latency_ms_sum, max(last_ts) as last_ts`;

const SUMS_FROM_LOGS = sql`count(*) as requests,
  sum(case when status >= 400 or error is not null then 1 else 0 end) as errors,
  sum(case when flags <> '[]' then 1 else 0 end) as flagged, sum(moderated) as moderated,
  coalesce(sum(prompt_tokens), 0) as prompt_tokens, coalesce(sum(completion_tokens), 0) as completion_tokens,
  coalesce(sum(total_tokens), 0) as total_tokens, coalesce(sum(cost_usd), 0) as cost_usd,
  sum(case when cost_usd is null then 1 else 0 end) as unpriced, sum(latency_ms) as latency_ms_sum,
  max(ts) as last_ts`;

interface SumRow {
  requests: number | string;
  errors: number | string;
  flagged: number | string;
  moderated: number | string;
  promptTokens: number | string;
  completionTokens: number | string;
  totalTokens: number | string;
  costUsd: number | string;
  unpriced: number | string;
  latencyMsSum: number | string;
  lastTs: number | string;
  [key: string]: unknown;
}

function toTotals(row: SumRow): Totals {
  return {
    requests: Number(row.requests),
    errors: Number(row.errors),
    flagged: Number(row.flagged),
    moderated: Number(row.moderated),
    promptTokens: Number(row.promptTokens),
    completionTokens: Number(row.completionTokens),
    totalTokens: Number(row.totalTokens),
    costUsd: Number(row.costUsd),
    unpriced: Number(row.unpriced),
    latencyMsSum: Number(row.latencyMsSum),
    lastTs: Number(row.lastTs),
  };
}

export function addTotals(into: Totals, add: Totals): void {
  into.requests += add.requests;
  into.errors += add.errors;
  into.flagged += add.flagged;
  into.moderated += add.moderated;
  into.promptTokens += add.promptTokens;
  into.completionTokens += add.completionTokens;
  into.totalTokens += add.totalTokens;
  into.costUsd += add.costUsd;
  into.unpriced += add.unpriced;
  into.latencyMsSum += add.latencyMsSum;
  into.lastTs = Math.max(into.lastTs, add.lastTs);
}

/**
 * Sums records per bucket and group. Whole hours inside one bucket come from the rollups;
 * the hours a bucket boundary cuts through (range edges, and every boundary of a time zone
 * whose offset is not a whole number of hours) are summed from the raw records.
 */
export async function aggregate(db: Kysely<Database>, q: AggregateQuery): Promise<AggregateRow[]> {
  const { boundaries, groupBy } = q;
  const first = boundaries[0];
  const last = boundaries.at(-1);
  if (first === undefined || last === undefined || boundaries.length < 2 || first >= last) return [];
  const raw = rawIntervals(boundaries);
  const cut = new Set(raw.flatMap(([a, b]) => hoursIn(a, b)));
  const merged = new Map<string, AggregateRow>();
  const merge = (bucket: number, row: SumRow, blankIsNone: boolean) => {
    const keys: AggregateRow['keys'] = {};
    for (const k of groupBy) {
      const value = row[k] as string | null | undefined;
      keys[k] = value === undefined || value === null || (blankIsNone && value === '') ? null : value;
    }
    const id = `${bucket}\u0000${groupBy.map((k) => keys[k] ?? '\u0001').join('\u0000')}`;
    const totals = toTotals(row);
    const existing = merged.get(id);
    if (existing) addTotals(existing, totals);
    else merged.set(id, { bucket, keys, ...totals });
  };
  const keyList = groupBy.map((k) => sql.raw(COLUMN[k]));
  const keySelect = keyList.length ? sql`, ${sql.join(keyList)}` : sql``;
  const where = (conditions: ReturnType<typeof keyConditions>) =>
    conditions.length ? sql` and ${sql.join(conditions, sql` and `)}` : sql``;

  const firstHour = ceilHour(first);
  const lastHour = hourOf(last);
  if (firstHour < lastHour) {
    // Only the users table needs the per-user rollups; everything else reads the small table.
    const perUser = groupBy.includes('endUser') || q.endUser !== undefined || q.withEndUser === true;
    const table = sql.raw(perUser ? 'log_rollups' : 'log_hour_totals');
    if (boundaries.length === 2) {
      // One bucket (the users table, summaries): the database sums across hours, so a long
      // range returns a row per group instead of a row per group and hour. (The hours the
      // two boundaries cut are outside [firstHour, lastHour).) The users table reads whole
      // UTC days from the daily rollup and only the hours at either end from the hourly one.
      const sumWhole = async (from: RawBuilder<unknown>, unit: 'hour' | 'day', ranges: Array<[number, number]>) => {
        const spans = ranges.filter(([a, b]) => a < b);
        if (spans.length === 0) return;
        const column = sql.raw(unit);
        const inSpans = sql.join(
          spans.map(([a, b]) => sql`(${column} >= ${a} and ${column} < ${b})`),
          sql` or `,
        );
        const { rows } = await sql<SumRow>`select ${SUMS_FROM_ROLLUPS}${keySelect} from ${from}
          where (${inSpans})${where(keyConditions(q, 'rollups'))}
          ${keyList.length ? sql`group by ${sql.join(keyList)}` : sql``}`.execute(db);
        for (const row of rows) if (Number(row.requests) > 0) merge(0, row, true);
      };
      const byDay = perUser && groupBy.every((k) => k === 'connectionId' || k === 'endUser');
      const firstDay = ceilDay(firstHour);
      const lastDay = dayOf(lastHour);
      if (byDay && firstDay < lastDay) {
        await sumWhole(sql.raw('log_user_days'), 'day', [[firstDay, lastDay]]);
        await sumWhole(table, 'hour', [
          [firstHour, firstDay],
          [lastDay, lastHour],
        ]);
      } else {
        await sumWhole(table, 'hour', [[firstHour, lastHour]]);
      }
    } else {
      const { rows } = await sql<SumRow>`select hour${keySelect}, ${SUMS_FROM_ROLLUPS} from ${table}
        where hour >= ${firstHour} and hour < ${lastHour}${where(keyConditions(q, 'rollups'))}
        group by hour${keySelect}`.execute(db);
      for (const row of rows) {
        const hour = Number(row.hour);
        if (!cut.has(hour)) merge(bucketOf(boundaries, hour), row, true);
      }
    }
  }

  if (raw.length > 0) {
    // Each raw interval maps to its bucket, split where a bucket boundary cuts through it.
    const whens = raw.flatMap(([a, b]) => [
      ...boundaries.filter((x) => x > a && x < b).map((x) => sql`when ts < ${x} then ${bucketOf(boundaries, x - 1)}`),
      sql`when ts < ${b} then ${bucketOf(boundaries, b - 1)}`,
    ]);
    const inRaw = sql.join(
      raw.map(([a, b]) => sql`(ts >= ${a} and ts < ${b})`),
      sql` or `,
    );
    const { rows } = await sql<SumRow>`select bucket${keySelect}, ${SUMS_FROM_LOGS} from (
        select case ${sql.join(whens, sql` `)} end as bucket, logs.* from logs
        where (${inRaw})${where(keyConditions(q, 'logs'))}
      ) as cut group by bucket${keySelect}`.execute(db);
    for (const row of rows) merge(Number(row.bucket), row, false);
  }
  return [...merged.values()];
}

function hoursIn(from: number, to: number): number[] {
  const hours: number[] = [];
  for (let h = hourOf(from); h < to; h += HOUR_MS) hours.push(h);
  return hours;
}
