// Rollups of the request log, written by the log writer in the same transaction as the
// records, and the aggregation the stats endpoints run. Each table has the shape of the
// queries that read it: per hour and per UTC day, per connection × model × operation ×
// provider and over every connection, and per connection × end user. A range is summed
// from whole days where a bucket holds whole UTC days, whole hours around them, and the
// raw records only for the partial hours at the edges (or where a bucket boundary cuts an
// hour, as in zones whose offset is not whole hours).
import { type Kysely, type SqlBool, sql } from 'kysely';
import { DAY_MS, HOUR_MS, type LogRecord, requestIdPrefix } from '../domain.js';
import type { Database, LogRollupsTable } from './schema.js';

const floorTo = (unit: number) => (ts: number) => ts - (((ts % unit) + unit) % unit);
export const hourOf = floorTo(HOUR_MS);
export const dayOf = floorTo(DAY_MS);
const ceilTo = (unit: number) => (ts: number) => (floorTo(unit)(ts) === ts ? ts : floorTo(unit)(ts) + unit);
const ceilHour = ceilTo(HOUR_MS);
const ceilDay = ceilTo(DAY_MS);

/** Key columns a query can group by. */
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
  /**
   * Only the first `limit` groups in this order are wanted (the users table): the store may
   * answer with any set of groups that holds them, each with its exact sums.
   */
  top?: UserTop;
}

/** The orders the users table can ask for, each most first. */
export type UserSort = 'costUsd' | 'requests' | 'errors' | 'flagged' | 'moderated';

/** The first `limit` groups by `by`, then requests (most first), then end user and connection (by code point). */
export interface UserTop {
  by: UserSort;
  limit: number;
}

/** Strings in code-point order, as both databases compare them in a top list's order (see `UserTop`). */
export const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A top list's order (see `UserTop`), for rows whose end user and connection `keysOf` gives (none sorts as ''). */
export const topOrder =
  <Row extends Totals>(by: UserSort, keysOf: (row: Row) => { endUser?: string | null; connectionId?: string | null }) =>
  (a: Row, b: Row): number => {
    const x = keysOf(a);
    const y = keysOf(b);
    return (
      b[by] - a[by] ||
      b.requests - a.requests ||
      byCodePoint(x.endUser ?? '', y.endUser ?? '') ||
      byCodePoint(x.connectionId ?? '', y.connectionId ?? '')
    );
  };

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

/** Sums records into one row per id; `keyOf` gives a new row's key columns from its first record. */
export function sumBy<Key extends object>(
  records: readonly LogRecord[],
  idOf: (r: LogRecord) => string,
  keyOf: (r: LogRecord) => Key,
): Array<Key & Totals> {
  const rows = new Map<string, Key & Totals>();
  for (const r of records) {
    const id = idOf(r);
    let row = rows.get(id);
    if (!row) {
      row = { ...keyOf(r), ...zeroTotals() };
      rows.set(id, row);
    }
    addRecord(row, r);
  }
  return [...rows.values()];
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

/** What a record is summed under, '' for none: rollup keys are part of primary keys on both databases. */
const detailOf = (r: LogRecord) => ({
  connectionId: r.connectionId ?? '',
  model: r.model ?? '',
  operation: r.operation as string,
  provider: r.provider,
});
const detailId = (r: LogRecord) =>
  `${r.connectionId ?? ''}\u0000${r.model ?? ''}\u0000${r.operation}\u0000${r.provider}`;
const overallId = (r: LogRecord) => `${r.model ?? ''}\u0000${r.operation}\u0000${r.provider}`;
const overallOf = (r: LogRecord) => ({ model: r.model ?? '', operation: r.operation as string, provider: r.provider });
const connectionOf = (r: LogRecord) => r.connectionId ?? '';
const userId = (r: LogRecord) => `${r.connectionId ?? ''}\u0000${r.endUser ?? ''}`;
const userOf = (r: LogRecord) => ({ connectionId: r.connectionId ?? '', endUser: r.endUser ?? '' });

/** The rows of every rollup table a batch of records adds up to. */
export function rollupRowsOf(records: readonly LogRecord[]) {
  const hourly = (id: (r: LogRecord) => string) => (r: LogRecord) => `${hourOf(r.ts)}\u0000${id(r)}`;
  const daily = (id: (r: LogRecord) => string) => (r: LogRecord) => `${dayOf(r.ts)}\u0000${id(r)}`;
  return {
    logHourTotals: sumBy(records, hourly(detailId), (r) => ({ hour: hourOf(r.ts), ...detailOf(r), endUser: '' })),
    logDayTotals: sumBy(records, daily(detailId), (r) => ({ day: dayOf(r.ts), ...detailOf(r) })),
    logHourOverall: sumBy(records, hourly(overallId), (r) => ({ hour: hourOf(r.ts), ...overallOf(r) })),
    logDayOverall: sumBy(records, daily(overallId), (r) => ({ day: dayOf(r.ts), ...overallOf(r) })),
    logHourConnections: sumBy(records, hourly(connectionOf), (r) => ({
      hour: hourOf(r.ts),
      connectionId: connectionOf(r),
    })),
    logDayConnections: sumBy(records, daily(connectionOf), (r) => ({
      day: dayOf(r.ts),
      connectionId: connectionOf(r),
    })),
    logUserHours: sumBy(records, hourly(userId), (r) => ({ hour: hourOf(r.ts), ...userOf(r) })),
  };
}

export type RollupTable =
  | 'logHourTotals'
  | 'logDayTotals'
  | 'logHourOverall'
  | 'logDayOverall'
  | 'logHourConnections'
  | 'logDayConnections'
  | 'logUserHours'
  | 'logUserWindows';

/** Writes rows into a rollup table, adding each to the row with the same key if there is one. */
export type RollupUpsert = <T extends RollupTable>(
  table: T,
  key: ReadonlyArray<keyof Database[T] & string>,
  rows: ReadonlyArray<Database[T]>,
) => Promise<void> | void;

/** Adds the batch's sums to every rollup table (inside the caller's transaction). */
export async function addRollups(upsert: RollupUpsert, records: readonly LogRecord[]): Promise<void> {
  const rows = rollupRowsOf(records);
  const detail = ['connectionId', 'model', 'operation', 'provider'] as const;
  const overall = ['model', 'operation', 'provider'] as const;
  await upsert('logHourTotals', ['hour', ...detail, 'endUser'], rows.logHourTotals);
  await upsert('logDayTotals', ['day', ...detail], rows.logDayTotals);
  await upsert('logHourOverall', ['hour', ...overall], rows.logHourOverall);
  await upsert('logDayOverall', ['day', ...overall], rows.logDayOverall);
  await upsert('logHourConnections', ['hour', 'connectionId'], rows.logHourConnections);
  await upsert('logDayConnections', ['day', 'connectionId'], rows.logDayConnections);
  await upsert('logUserHours', ['hour', 'connectionId', 'endUser'], rows.logUserHours);
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

/** The sums of rollup rows, named as the rollup tables' columns. */
export const SUMS_FROM_ROLLUPS = sql`sum(requests) as requests, sum(errors) as errors, sum(flagged) as flagged,
  sum(moderated) as moderated, sum(prompt_tokens) as prompt_tokens, sum(completion_tokens) as completion_tokens,
  sum(total_tokens) as total_tokens, sum(cost_usd) as cost_usd, sum(unpriced) as unpriced,
  sum(latency_ms_sum) as latency_ms_sum, max(last_ts) as last_ts`;

/** The sums of log records, named as the rollup tables' columns. */
export const SUMS_FROM_LOGS = sql`count(*) as requests,
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

export type Span = [number, number];

const RAW_SPANS_PER_QUERY = 200;

/**
 * The Logs filters by errors only, a flag, or no price (alerts), as the partial indexes for
 * them (migration 0010) were made: queries repeat them literally so both databases see
 * that the index covers them.
 */
export const ERRORS_ONLY = sql<SqlBool>`(status >= 400 or error is not null)`;
export const FLAGGED_ONLY = sql<SqlBool>`flags <> '[]'`;
export const UNPRICED_ONLY = sql<SqlBool>`cost_usd is null`;

/** Log records of [a, b): by time and, since ids begin with their time, by id, so the id indexes narrow it. */
export const inSpan = (a: number, b: number) =>
  sql<SqlBool>`ts >= ${a} and ts < ${b} and id >= ${requestIdPrefix(a)} and id < ${requestIdPrefix(b)}`;

/** Rollup rows of the day or hour spans given (by their `day` or `hour` column). */
export const inUnitSpans = (unit: 'hour' | 'day', spans: readonly Span[]) =>
  sql<SqlBool>`(${sql.join(
    spans.map(([a, b]) => sql`(${sql.raw(unit)} >= ${a} and ${sql.raw(unit)} < ${b})`),
    sql` or `,
  )})`;

/** Where a query's sums come from: whole UTC days, whole hours, and the raw records of partial hours. */
interface Plan {
  days: Span[];
  hours: Span[];
  raw: Span[];
}

/** Appends a span, joined to the last one where they touch; empty spans are left out. */
function push(spans: Span[], [a, b]: Span): void {
  if (a >= b) return;
  const previous = spans.at(-1);
  if (previous && previous[1] === a) previous[1] = b;
  else spans.push([a, b]);
}

/**
 * Splits each bucket into the whole UTC days it holds (when the source has daily sums), the
 * whole hours around them, and the partial hours at its edges. Every whole day or hour lies
 * inside one bucket, so a row read per day or hour belongs to the bucket of its start.
 */
export function planOf(boundaries: readonly number[], daily: boolean): Plan {
  const plan: Plan = { days: [], hours: [], raw: [] };
  for (let i = 0; i + 1 < boundaries.length; i++) {
    const a = boundaries[i] as number;
    const b = boundaries[i + 1] as number;
    const firstHour = ceilHour(a);
    const lastHour = hourOf(b);
    if (firstHour >= lastHour) {
      push(plan.raw, [a, b]);
      continue;
    }
    push(plan.raw, [a, firstHour]);
    const firstDay = ceilDay(firstHour);
    const lastDay = dayOf(lastHour);
    if (daily && firstDay < lastDay) {
      push(plan.hours, [firstHour, firstDay]);
      push(plan.days, [firstDay, lastDay]);
      push(plan.hours, [lastDay, lastHour]);
    } else {
      push(plan.hours, [firstHour, lastHour]);
    }
    push(plan.raw, [lastHour, b]);
  }
  return plan;
}

/** Rollup tables by the keys they can group and filter by. */
interface Source {
  hour: string;
  /** None for end users: per user and day is nearly a row per record, as per hour. */
  day?: string;
  keys: readonly GroupKey[];
}
const OVERALL: Source = { hour: 'log_hour_overall', day: 'log_day_overall', keys: ['model', 'operation', 'provider'] };
const CONNECTIONS: Source = { hour: 'log_hour_connections', day: 'log_day_connections', keys: ['connectionId'] };
const PER_CONNECTION: Source = {
  hour: 'log_hour_totals',
  day: 'log_day_totals',
  keys: ['connectionId', 'model', 'operation', 'provider'],
};
const PER_USER: Source = { hour: 'log_user_hours', keys: ['connectionId', 'endUser'] };

/** The smallest rollup tables that hold the query's keys and filters; none: only the raw log can answer. */
function sourceOf(q: AggregateQuery): Source | null {
  const needed = new Set<GroupKey>(q.groupBy);
  if (q.connectionId !== undefined) needed.add('connectionId');
  if (q.endUser !== undefined || q.withEndUser) needed.add('endUser');
  return (
    [OVERALL, CONNECTIONS, PER_CONNECTION, PER_USER].find((source) =>
      [...needed].every((k) => source.keys.includes(k)),
    ) ?? null
  );
}

/**
 * Sums records per bucket and group: from the rollup tables shaped for the query (see
 * `planOf`), and the raw records only for partial hours (or everything, for a shape no rollup
 * holds). The users table for the dashboard's ranges reads the users' windows instead (user-windows.ts).
 */
export async function aggregate(db: Kysely<Database>, q: AggregateQuery): Promise<AggregateRow[]> {
  const { boundaries, groupBy } = q;
  const first = boundaries[0];
  const last = boundaries.at(-1);
  if (first === undefined || last === undefined || boundaries.length < 2 || first >= last) return [];
  const source = sourceOf(q);
  const plan: Plan = source
    ? planOf(boundaries, source.day !== undefined)
    : { days: [], hours: [], raw: [[first, last]] };
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
  const oneBucket = boundaries.length === 2;

  const sumRollups = async (table: string, unit: 'hour' | 'day', spans: readonly Span[]) => {
    if (spans.length === 0) return;
    const column = sql.raw(unit);
    // One bucket: the database sums across days and hours, a row per group; more: a row per group and day or hour.
    const grouping = oneBucket ? keyList : [column, ...keyList];
    const { rows } =
      await sql<SumRow>`select ${oneBucket ? sql`` : sql`${column} as unit, `}${SUMS_FROM_ROLLUPS}${keySelect}
      from ${sql.table(table)} where ${inUnitSpans(unit, spans)}${where(keyConditions(q, 'rollups'))}
      ${grouping.length ? sql`group by ${sql.join(grouping)}` : sql``}`.execute(db);
    for (const row of rows)
      if (Number(row.requests) > 0) merge(oneBucket ? 0 : bucketOf(boundaries, Number(row.unit)), row, true);
  };
  if (source) {
    if (source.day) await sumRollups(source.day, 'day', plan.days);
    await sumRollups(source.hour, 'hour', plan.hours);
  }

  // A select per raw span, so each reads its own stretch of an index (a time range is also an
  // id range, which narrows the connection index too), each span mapped to its bucket and split
  // where a bucket boundary cuts through it; at most RAW_SPANS_PER_QUERY spans a statement
  // (SQLite takes 500 selects in one compound).
  for (let start = 0; start < plan.raw.length; start += RAW_SPANS_PER_QUERY) {
    const spans = plan.raw.slice(start, start + RAW_SPANS_PER_QUERY).map(([a, b]) => {
      const whens = [
        ...boundaries.filter((x) => x > a && x < b).map((x) => sql`when ts < ${x} then ${bucketOf(boundaries, x - 1)}`),
        sql`when ts < ${b} then ${bucketOf(boundaries, b - 1)}`,
      ];
      return sql`select case ${sql.join(whens, sql` `)} end as bucket, logs.* from logs
        where ${inSpan(a, b)}${where(keyConditions(q, 'logs'))}`;
    });
    const { rows } = await sql<SumRow>`select bucket${keySelect}, ${SUMS_FROM_LOGS} from (
        ${sql.join(spans, sql` union all `)}
      ) as cut group by bucket${keySelect}`.execute(db);
    for (const row of rows) merge(Number(row.bucket), row, false);
  }
  return [...merged.values()];
}
