// The rollups /api/alerts reads, written by the log writer in the records' transaction:
// requests blocked by a policy (per flag type) and successes without a known price (per
// model), summed per connection and hour and per connection and UTC day, and each
// connection's runs of upstream errors (5xx) no more than BURST_GAP_MS apart. An alert
// over 90 days then reads a few rows per connection and day, and the runs long enough to
// be a burst, instead of every error of the range; the raw log is read only for the
// partial hours at the range's edges and for a burst the range cuts.
import { type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { Flag } from '../domain.js';
import {
  byCodePoint,
  dayOf,
  ERRORS_ONLY,
  hourOf,
  inSpan,
  inUnitSpans,
  planOf,
  type Span,
  UNPRICED_ONLY,
} from './rollups.js';
import type { AlertSums, Database } from './schema.js';
import type { AlertGroup, AlertRecord } from './store.js';

/** Upstream errors closer together than this belong to one burst. */
export const BURST_GAP_MS = 5 * 60 * 1000;
/** How many upstream errors make a burst worth an alert. */
export const BURST_MIN_ERRORS = 3;

const isBlocked = (r: AlertRecord) => r.status >= 400 && r.flags.length > 0;
const isUnpriced = (r: AlertRecord) =>
  r.status < 400 && r.model !== null && r.costUsd === null && (r.totalTokens ?? 0) > 0;
const isUpstreamError = (r: AlertRecord) => r.status >= 500;

/** Adds `add` to `into`: the name and detail are the latest record's (the later of equals: `add`'s). */
function mergeInto(into: AlertGroup, add: AlertGroup): void {
  into.count += add.count;
  if (add.lastTs >= into.lastTs) {
    into.lastTs = add.lastTs;
    into.connectionName = add.connectionName;
    into.detail = add.detail;
  }
  into.firstTs = Math.min(into.firstTs, add.firstTs);
}

/** Sums groups with the same kind, connection, subject and `at` (an hour, a day, or none). */
function sumGroups<G extends AlertGroup>(groups: Iterable<G>, at: (g: G) => number = () => 0): G[] {
  const sums = new Map<string, G>();
  for (const group of groups) {
    const id = `${at(group)}\u0000${group.kind}\u0000${group.connectionId ?? '\u0001'}\u0000${group.subject}`;
    const sum = sums.get(id);
    if (sum) mergeInto(sum, group);
    else sums.set(id, { ...group });
  }
  return [...sums.values()];
}

/** A record as a group of one. */
const groupOf = (r: AlertRecord, kind: AlertGroup['kind'], subject: string, detail: string | null): AlertGroup => ({
  kind,
  connectionId: r.connectionId,
  subject,
  count: 1,
  firstTs: r.ts,
  lastTs: r.ts,
  connectionName: r.connectionName,
  detail,
});

/** Blocked requests (one group per flag type a record carries) and unpriced successes, one group per record. */
function blockedAndUnpriced(records: readonly AlertRecord[]): AlertGroup[] {
  const groups: AlertGroup[] = [];
  for (const r of records) {
    if (isBlocked(r)) {
      const types = new Map<string, Flag>();
      for (const flag of r.flags) if (!types.has(flag.type)) types.set(flag.type, flag);
      for (const [type, flag] of types) groups.push(groupOf(r, 'blocked', type, flag.description));
    } else if (isUnpriced(r)) groups.push(groupOf(r, 'unpriced', r.model ?? '', null));
  }
  return groups;
}

const statusesOf = (group: AlertGroup) => group.subject.split(', ');

/**
 * Joins upstream errors and runs of them (any order) into runs per connection: two belong
 * together when the later starts no more than BURST_GAP_MS after the earlier ends.
 */
function runsOf(errors: readonly AlertGroup[]): AlertGroup[] {
  const sorted = [...errors].sort((a, b) => a.firstTs - b.firstTs);
  const open = new Map<string | null, AlertGroup>();
  const runs: AlertGroup[] = [];
  for (const error of sorted) {
    const run = open.get(error.connectionId);
    if (run && error.firstTs - run.lastTs <= BURST_GAP_MS) {
      const statuses = new Set([...statusesOf(run), ...statusesOf(error)]);
      mergeInto(run, error);
      run.subject = [...statuses].sort().join(', ');
    } else {
      const next = { ...error };
      open.set(error.connectionId, next);
      runs.push(next);
    }
  }
  return runs;
}

const upstreamErrors = (records: readonly AlertRecord[]) =>
  records.filter(isUpstreamError).map((r) => groupOf(r, 'burst', String(r.status), r.error));

/** The alert groups of a set of records: blocked, unpriced, and bursts of BURST_MIN_ERRORS upstream errors or more. */
export function alertGroupsOf(records: readonly AlertRecord[]): AlertGroup[] {
  const bursts = runsOf(upstreamErrors(records)).filter((run) => run.count >= BURST_MIN_ERRORS);
  return [...sumGroups(blockedAndUnpriced(records)), ...bursts];
}

/** Rollups spell "no connection" as '' (a primary key's part). */
const stored = (connectionId: string | null) => connectionId ?? '';
const read = (connectionId: string) => (connectionId === '' ? null : connectionId);

/** A group as a row of the runs' table, and, with its kind and hour or day, of the alert rollups. */
const rowOf = (g: AlertGroup): AlertSums => ({
  connectionId: stored(g.connectionId),
  subject: g.subject,
  count: g.count,
  firstTs: g.firstTs,
  lastTs: g.lastTs,
  connectionName: g.connectionName,
  detail: g.detail,
});
const groupOfRow = (row: AlertSums, kind: AlertGroup['kind']): AlertGroup => ({
  ...row,
  kind,
  connectionId: read(row.connectionId),
  count: Number(row.count),
  firstTs: Number(row.firstTs),
  lastTs: Number(row.lastTs),
});

type Unit = 'hour' | 'day';
const TABLE = { hour: 'log_alert_hours', day: 'log_alert_days' } as const;
/** Rows an insert carries at most (9 parameters each: well under either database's limit). */
const CHUNK = 1000;
/** Records the migration reads from the log at a time. */
const FILL_CHUNK = 10_000;

/** Adds a batch of new records' blocked and unpriced ones to their hours and days, inside the caller's transaction. */
export async function addAlertRollups(db: Kysely<Database>, records: readonly AlertRecord[]): Promise<void> {
  const groups = blockedAndUnpriced(records);
  if (groups.length === 0) return;
  for (const unit of ['hour', 'day'] as const) {
    const of = unit === 'hour' ? hourOf : dayOf;
    // In one order (time, then key), so writers at the same time lock shared rows in one order.
    const rows = sumGroups(groups, (g) => of(g.lastTs))
      .map((g) => ({ at: of(g.lastTs), kind: g.kind, ...rowOf(g) }))
      .sort(
        (a, b) =>
          a.at - b.at ||
          byCodePoint(a.kind, b.kind) ||
          byCodePoint(a.connectionId, b.connectionId) ||
          byCodePoint(a.subject, b.subject),
      );
    for (let i = 0; i < rows.length; i += CHUNK) await upsert(db, unit, rows.slice(i, i + CHUNK));
  }
}

async function upsert(db: Kysely<Database>, unit: Unit, rows: Array<AlertSums & { at: number; kind: string }>) {
  const old = (column: string) => sql.raw(`${TABLE[unit]}.${column}`);
  const later = sql<SqlBool>`excluded.last_ts >= ${old('last_ts')}`;
  const latest = <T>(column: string) =>
    sql<T>`case when ${later} then excluded.${sql.raw(column)} else ${old(column)} end`;
  const sums = {
    count: sql<number>`${old('count')} + excluded.count`,
    firstTs: sql<number>`case when excluded.first_ts < ${old('first_ts')} then excluded.first_ts else ${old('first_ts')} end`,
    lastTs: latest<number>('last_ts'),
    connectionName: latest<string | null>('connection_name'),
    detail: latest<string | null>('detail'),
  };
  const key = ['kind', 'connectionId', 'subject'] as const;
  if (unit === 'hour')
    await db
      .insertInto('logAlertHours')
      .values(rows.map(({ at, ...row }) => ({ hour: at, ...row })))
      .onConflict((oc) => oc.columns(['hour', ...key]).doUpdateSet(sums))
      .execute();
  else
    await db
      .insertInto('logAlertDays')
      .values(rows.map(({ at, ...row }) => ({ day: at, ...row })))
      .onConflict((oc) => oc.columns(['day', ...key]).doUpdateSet(sums))
      .execute();
}

/**
 * Merges a batch of new records' upstream errors into their connections' runs, inside the
 * caller's transaction: the runs within BURST_GAP_MS of the batch's errors are read, joined
 * with them, and written back. With `lockRuns` (PostgreSQL) a transaction lock per
 * connection keeps writers on several connections or replicas from merging the same runs at
 * once. The caller does this last: the locks are then held only until the commit, and a
 * writer holding them waits for no other lock, so writers never deadlock on them.
 */
export async function addErrorRuns(db: Kysely<Database>, records: readonly AlertRecord[], lockRuns: boolean) {
  const errors = upstreamErrors(records);
  if (errors.length === 0) return;
  const connections = [...new Set(errors.map((e) => stored(e.connectionId)))].sort(byCodePoint);
  if (lockRuns)
    await sql`select pg_advisory_xact_lock(k) from (select distinct hashtext(current_schema() || ':error-runs:' || c) as k
      from unnest(${connections}::text[]) as c order by k) as locks`.execute(db);
  const from = errors.reduce((min, e) => Math.min(min, e.firstTs), Number.POSITIVE_INFINITY) - BURST_GAP_MS;
  const to = errors.reduce((max, e) => Math.max(max, e.lastTs), 0) + BURST_GAP_MS;
  const near = (eb: ExpressionBuilder<Database, 'logErrorRuns'>) =>
    eb.and([eb('connectionId', 'in', connections), eb('lastTs', '>=', from), eb('firstTs', '<=', to)]);
  const runs = await db.selectFrom('logErrorRuns').selectAll().where(near).execute();
  if (runs.length > 0) await db.deleteFrom('logErrorRuns').where(near).execute();
  const merged = runsOf([...runs.map((row) => groupOfRow(row, 'burst')), ...errors]).map(rowOf);
  for (let i = 0; i < merged.length; i += CHUNK)
    await db
      .insertInto('logErrorRuns')
      .values(merged.slice(i, i + CHUNK))
      .execute();
}

/** The columns alerts read of a record. */
const ALERT_COLUMNS = [
  'id',
  'ts',
  'connectionId',
  'connectionName',
  'model',
  'status',
  'error',
  'flags',
  'costUsd',
  'totalTokens',
] as const;

/** The log records that can make an alert, each read from its partial index; unpriced errors come with the errors. */
const ALERT_SOURCES = {
  errors: ERRORS_ONLY,
  unpriced: sql<SqlBool>`${UNPRICED_ONLY} and not ${ERRORS_ONLY}`,
} as const;

/** Records of [a, b) that can make an alert, from the errors' or the unpriced records' index. */
async function alertRecordsIn(
  db: Kysely<Database>,
  [a, b]: Readonly<Span>,
  connectionId: string | null | undefined,
  only: keyof typeof ALERT_SOURCES,
): Promise<AlertRecord[]> {
  let query = db.selectFrom('logs').select(ALERT_COLUMNS).where(inSpan(a, b)).where(ALERT_SOURCES[only]);
  if (connectionId === null) query = query.where('connectionId', 'is', null);
  else if (connectionId !== undefined) query = query.where('connectionId', '=', connectionId);
  return (await query.execute()).map(toAlertRecord);
}

const toAlertRecord = (row: { ts: number | string; flags: string } & Omit<AlertRecord, 'ts' | 'flags'>) => ({
  ...row,
  ts: Number(row.ts),
  flags: JSON.parse(row.flags) as Flag[],
});

/** Fills the alert rollups from the log (migration 0013), a chunk of records at a time in the order of their ids. */
export async function fillAlertRollups(db: Kysely<Database>): Promise<void> {
  for (const only of Object.values(ALERT_SOURCES)) {
    let after = '';
    for (;;) {
      const rows = await db
        .selectFrom('logs')
        .select(ALERT_COLUMNS)
        .where(only)
        .where('id', '>', after)
        .orderBy('id')
        .limit(FILL_CHUNK)
        .execute();
      const records = rows.map(toAlertRecord);
      await addAlertRollups(db, records);
      await addErrorRuns(db, records, false);
      const last = rows.at(-1);
      if (!last || rows.length < FILL_CHUNK) break;
      after = last.id;
    }
  }
}

/**
 * The alert groups of [from, to), of one connection or all: blocked and unpriced from the
 * daily and hourly rollups and the raw records of the partial hours at the edges; bursts
 * from the runs, those the range cuts counted again from their records inside it.
 */
export async function queryAlertGroups(
  db: Kysely<Database>,
  q: { connectionId?: string; from: number; to: number },
): Promise<AlertGroup[]> {
  if (q.from >= q.to) return [];
  const plan = planOf([q.from, q.to], true);
  const parts: AlertGroup[] = [];
  for (const [unit, spans] of [
    ['day', plan.days],
    ['hour', plan.hours],
  ] as const) {
    if (spans.length === 0) continue;
    const connection = q.connectionId === undefined ? sql`` : sql` and connection_id = ${q.connectionId}`;
    const { rows } = await sql<AlertSums & { kind: AlertGroup['kind'] }>`select kind, connection_id, subject, count,
      first_ts, last_ts, connection_name, detail from ${sql.table(TABLE[unit])} where ${inUnitSpans(unit, spans)}${connection}`.execute(
      db,
    );
    for (const row of rows) parts.push(groupOfRow(row, row.kind));
  }
  for (const span of plan.raw) {
    const records = [
      ...(await alertRecordsIn(db, span, q.connectionId, 'errors')),
      ...(await alertRecordsIn(db, span, q.connectionId, 'unpriced')),
    ];
    parts.push(...blockedAndUnpriced(records));
  }
  return [...sumGroups(parts), ...(await burstsIn(db, q))];
}

/** The bursts of [from, to): runs of at least BURST_MIN_ERRORS errors, those the range cuts counted from their records in it. */
async function burstsIn(db: Kysely<Database>, q: { connectionId?: string; from: number; to: number }) {
  let query = db
    .selectFrom('logErrorRuns')
    .selectAll()
    .where(sql<SqlBool>`count >= ${sql.lit(BURST_MIN_ERRORS)}`)
    .where('lastTs', '>=', q.from)
    .where('firstTs', '<', q.to);
  if (q.connectionId !== undefined) query = query.where('connectionId', '=', q.connectionId);
  const bursts: AlertGroup[] = [];
  for (const row of await query.execute()) {
    const run = groupOfRow(row, 'burst');
    if (run.firstTs >= q.from && run.lastTs < q.to) {
      bursts.push(run);
      continue;
    }
    const span = [Math.max(run.firstTs, q.from), Math.min(run.lastTs + 1, q.to)] as const;
    const records = await alertRecordsIn(db, span, run.connectionId, 'errors');
    bursts.push(...alertGroupsOf(records).filter((g) => g.kind === 'burst'));
  }
  return bursts;
}
