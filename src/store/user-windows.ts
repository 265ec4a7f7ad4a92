// The users table for the dashboard's ranges. With many end users, any table of per-user
// sums per day or hour holds nearly a row per record, and a top list over weeks would sum
// millions of them. Instead each user's sums over the last 24 hours, 7, 30 and 90 days are
// kept up to date as windows that slide: every minute a roll adds the records since the
// windows' end (from the log), and once a window's start lies more than half an hour behind
// where it should be, takes away its oldest hour (from the hourly user rollups, which
// retention keeps). A record that arrives for a time already rolled is added by the log
// writer itself. A range ending now then reads one row per user of the window nearest to
// it, corrected by the few records between the range's ends and the window's: at most half
// an hour at its start and a minute or two at its end.
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import { z } from 'zod';
import { HOUR_MS, type LogRecord } from '../domain.js';
import {
  type AggregateQuery,
  type AggregateRow,
  addTotals,
  hourOf,
  inSpan,
  planOf,
  type RollupUpsert,
  SUMMED,
  SUMS_FROM_LOGS,
  SUMS_FROM_ROLLUPS,
  sumBy,
  type Totals,
  topOrder,
  type UserSort,
  zeroTotals,
} from './rollups.js';
import type { Database, LogUserWindowsTable } from './schema.js';

/** The windows' lengths in hours: the dashboard's ranges. */
export const WINDOW_SPANS_HOURS = [24, 7 * 24, 30 * 24, 90 * 24] as const;
/** The setting holding where the windows start and end (`WindowState` as JSON; '' before the first roll). */
export const WINDOWS_SETTING = 'user_windows_as_of';
/** The windows end at a whole minute: a roll sooner than that has nothing to do. */
const ROLL_STEP_MS = 60_000;
/** How far a range's ends may lie from a window's for the window to be read and corrected. */
const MAX_CORRECTION_MS = 3 * HOUR_MS;
/** A roll further behind than this rebuilds the windows instead of stepping. */
const REBUILD_AFTER_MS = 48 * HOUR_MS;

/**
 * Every window ends at `end`; each starts at a whole hour (its oldest hour is taken away as
 * a whole, from the hourly user rollups), the one nearest to `end` less its span.
 */
const WindowStateSchema = z.object({
  end: z.number().int(),
  starts: z.record(z.string(), z.number().int()),
});
export type WindowState = z.infer<typeof WindowStateSchema>;

type Dialect = 'sqlite' | 'postgres';
type Db = Kysely<Database> | Transaction<Database>;

const SORT_COLUMN: Record<UserSort, string> = {
  costUsd: 'cost_usd',
  requests: 'requests',
  errors: 'errors',
  flagged: 'flagged',
  moderated: 'moderated',
};

/** The summed columns in SQL, in the order of the tables. */
const SUM_COLUMNS = [
  'requests',
  'errors',
  'flagged',
  'moderated',
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'cost_usd',
  'unpriced',
  'latency_ms_sum',
] as const;
const COLUMNS = sql.raw(['span_hours', 'connection_id', 'end_user', ...SUM_COLUMNS, 'last_ts'].join(', '));

/** Where a window of `span` hours ending at `end` starts: the whole hour nearest to `end` less the span. */
const startFor = (end: number, span: number) => hourOf(end - span * HOUR_MS + HOUR_MS / 2);
const startOf = (state: WindowState, span: number) => state.starts[String(span)] ?? startFor(state.end, span);

/**
 * The windows' state. Writers read it sharing a lock the roll takes alone (PostgreSQL), so a
 * batch is either in the log a roll reads or added to the windows as late. Anything else
 * (never rolled, or a format of an earlier version) is null: the next roll rebuilds.
 */
async function stateIn(db: Db, dialect: Dialect, lock: 'share' | 'update' | null): Promise<WindowState | null> {
  const forLock = dialect === 'postgres' && lock ? sql.raw(` for ${lock}`) : sql``;
  const { rows } = await sql<{
    value: string;
  }>`select value from settings where key = ${WINDOWS_SETTING}${forLock}`.execute(db);
  const value = rows[0]?.value;
  if (!value) return null;
  const parsed = WindowStateSchema.safeParse(JSON.parse(value));
  return parsed.success ? parsed.data : null;
}

/** Adds records for times already rolled to the windows that hold them (inside the writer's transaction). */
export async function addLateRecords(
  db: Transaction<Database>,
  dialect: Dialect,
  upsert: RollupUpsert,
  records: readonly LogRecord[],
): Promise<void> {
  const withUser = records.filter((r) => r.endUser !== null);
  if (withUser.length === 0) return;
  const state = await stateIn(db, dialect, 'share');
  if (state === null) return;
  for (const span of WINDOW_SPANS_HOURS) {
    const from = startOf(state, span);
    const late = withUser.filter((r) => r.ts >= from && r.ts < state.end);
    if (late.length === 0) continue;
    const rows = sumBy(
      late,
      (r) => `${r.connectionId ?? ''}\u0000${r.endUser}`,
      (r): Omit<LogUserWindowsTable, keyof Totals> => ({
        spanHours: span,
        connectionId: r.connectionId ?? '',
        endUser: r.endUser ?? '',
      }),
    );
    await upsert('logUserWindows', ['spanHours', 'endUser', 'connectionId'], rows);
  }
}

/**
 * Each end user's sums (per connection) over [from, to): whole hours from the hourly user
 * rollups, the partial hours at the edges from the log.
 */
function userSums(from: number, to: number): RawBuilder<unknown> {
  const { hours, raw } = planOf([from, to], false);
  const parts = [
    ...hours.map(
      ([a, b]) => sql`select connection_id, end_user, ${sql.raw(SUM_COLUMNS.join(', '))}, last_ts from log_user_hours
        where hour >= ${a} and hour < ${b} and end_user <> ''`,
    ),
    ...raw.map(
      ([a, b]) => sql`select coalesce(connection_id, '') as connection_id, end_user, ${SUMS_FROM_LOGS} from logs
        where ${inSpan(a, b)} and end_user is not null group by connection_id, end_user`,
    ),
  ];
  return sql`select connection_id, end_user, ${SUMS_FROM_ROLLUPS} from (${sql.join(parts, sql` union all `)}) as parts
    group by connection_id, end_user`;
}

/** Adds (or, with sign -1, takes away) each user's sums over [from, to) to a window. */
async function addToWindow(db: Db, span: number, sign: 1 | -1, [from, to]: [number, number]): Promise<void> {
  if (from >= to) return;
  const sums = sql.raw(SUM_COLUMNS.map((c) => (sign === 1 ? c : `-${c}`)).join(', '));
  const updates = sql.raw(
    [
      ...SUM_COLUMNS.map((c) => `${c} = log_user_windows.${c} + excluded.${c}`),
      'last_ts = case when log_user_windows.last_ts > excluded.last_ts then log_user_windows.last_ts else excluded.last_ts end',
    ].join(', '),
  );
  // A row taken away leaves the latest time alone: what stays is newer than what left.
  const lastTs = sql.raw(sign === 1 ? 'last_ts' : '0');
  await sql`insert into log_user_windows (${COLUMNS})
    select ${span}, connection_id, end_user, ${sums}, ${lastTs} from (${userSums(from, to)}) as source where true
    on conflict (span_hours, end_user, connection_id) do update set ${updates}`.execute(db);
  // Users whose every record left the window (found through the index on requests).
  if (sign === -1) await sql`delete from log_user_windows where span_hours = ${span} and requests <= 0`.execute(db);
}

/**
 * Slides the windows to end at `now`'s minute: adds what came since their end, and takes
 * away each window's oldest hours while its start lies more than half an hour behind; or
 * rebuilds them when far behind or never built. Returns the new end, or null when the
 * windows already end there.
 */
export async function rollUserWindows(
  db: Kysely<Database>,
  dialect: Dialect,
  now: number,
): Promise<{ asOf: number; rebuilt: boolean } | null> {
  const end = now - (now % ROLL_STEP_MS);
  return db.transaction().execute(async (trx) => {
    // SQLite: a write first, so the transaction holds the write lock from its start.
    if (dialect === 'sqlite') await sql`update settings set value = value where key = ${WINDOWS_SETTING}`.execute(trx);
    const state = await stateIn(trx, dialect, 'update');
    if (state !== null && state.end >= end) return null;
    const rebuilt = state === null || end - state.end > REBUILD_AFTER_MS;
    const starts: Record<string, number> = {};
    if (rebuilt) await sql`delete from log_user_windows`.execute(trx);
    for (const span of WINDOW_SPANS_HOURS) {
      const start = startFor(end, span);
      starts[String(span)] = start;
      if (state === null || rebuilt) await addToWindow(trx, span, 1, [start, end]);
      else {
        await addToWindow(trx, span, 1, [state.end, end]);
        await addToWindow(trx, span, -1, [startOf(state, span), start]);
      }
    }
    const next: WindowState = { end, starts };
    await sql`update settings set value = ${JSON.stringify(next)} where key = ${WINDOWS_SETTING}`.execute(trx);
    return { asOf: end, rebuilt };
  });
}

interface WindowRow extends Totals {
  connectionId: string;
  endUser: string;
}

const userKey = (connectionId: string, endUser: string) => `${connectionId}\u0000${endUser}`;

/**
 * The users table (one bucket, grouped by end user and connection, only records with an end
 * user) from the window nearest to the range, or null when no window is within a few hours
 * of both its ends. With `top`, only the window's rows that could end up in the top list
 * are read: those with at least the `limit`-th corrected sum, and the users the corrections
 * raise with at least that less what they were raised by.
 */
export async function userWindowsAggregate(
  db: Kysely<Database>,
  dialect: Dialect,
  q: AggregateQuery,
  aggregate: (part: AggregateQuery) => Promise<AggregateRow[]>,
): Promise<AggregateRow[] | null> {
  const [from, to] = q.boundaries;
  const groups = new Set(q.groupBy);
  if (q.boundaries.length !== 2 || from === undefined || to === undefined) return null;
  if (!q.withEndUser || groups.size !== 2 || !groups.has('endUser') || !groups.has('connectionId')) return null;
  const state = await stateIn(db, dialect, null);
  // A range ending before the windows would need records taken away at its end, and the latest time with them.
  if (state === null || to < state.end || to - state.end > MAX_CORRECTION_MS) return null;
  const span = WINDOW_SPANS_HOURS.find((s) => Math.abs(from - startOf(state, s)) <= MAX_CORRECTION_MS);
  if (span === undefined) return null;
  const start = startOf(state, span);

  const corrections: Array<{ range: [number, number]; sign: 1 | -1 }> = [{ range: [state.end, to], sign: 1 }];
  if (from < start) corrections.push({ range: [from, start], sign: 1 });
  else corrections.push({ range: [start, from], sign: -1 });
  const deltas = new Map<string, WindowRow>();
  for (const { range, sign } of corrections) {
    if (range[0] >= range[1]) continue;
    const rows = await aggregate({ ...q, top: undefined, boundaries: range });
    for (const row of rows) {
      const connectionId = row.keys.connectionId ?? '';
      const endUser = row.keys.endUser ?? '';
      const key = userKey(connectionId, endUser);
      const delta = deltas.get(key) ?? { connectionId, endUser, ...zeroTotals() };
      for (const c of SUMMED) delta[c] += sign * row[c];
      if (sign === 1) delta.lastTs = Math.max(delta.lastTs, row.lastTs);
      deltas.set(key, delta);
    }
  }

  const conditions = [sql`span_hours = ${span}`];
  if (q.connectionId !== undefined) conditions.push(sql`connection_id = ${q.connectionId}`);
  if (q.endUser !== undefined) conditions.push(sql`end_user = ${q.endUser}`);
  const select = (more: RawBuilder<unknown>[], tail: RawBuilder<unknown>) =>
    sql<WindowRow>`select * from log_user_windows where ${sql.join([...conditions, ...more], sql` and `)} ${tail}`.execute(
      db,
    );
  const exactOf = (key: string, window: WindowRow | undefined): WindowRow | undefined => {
    const delta = deltas.get(key);
    const base = window ?? delta;
    if (!base) return undefined;
    const totals = zeroTotals();
    if (window) addTotals(totals, toNumbers(window));
    if (delta) addTotals(totals, delta);
    return { ...totals, connectionId: base.connectionId, endUser: base.endUser };
  };
  const windows = new Map<string, WindowRow>();
  const keep = (rows: readonly WindowRow[]) => {
    for (const row of rows) windows.set(userKey(row.connectionId, row.endUser), row);
  };
  // Whether every window row of the filter was read: then users the corrections add are new ones too.
  let complete = true;
  const newUsers: string[] = [];
  if (!q.top) keep((await select([], sql``)).rows);
  else {
    const { by, limit } = q.top;
    const column = sql.raw(SORT_COLUMN[by]);
    const codePoints = dialect === 'postgres' ? sql` collate "C"` : sql``;
    const first = await select(
      [],
      sql`order by ${column} desc, requests desc, end_user${codePoints}, connection_id${codePoints} limit ${limit}`,
    );
    keep(first.rows);
    // The limit-th of those, corrected: whoever ends up in the top list sums at least as much.
    const corrected = first.rows
      .map((row) => exactOf(userKey(row.connectionId, row.endUser), row))
      .filter((row): row is WindowRow => row !== undefined)
      .sort(topOrder(by, (row) => row));
    const last = corrected[limit - 1];
    if (!last) keep((await select([], sql``)).rows);
    else {
      complete = false;
      const least = last[by];
      // Sums added and taken away leave rounding in the windows' costs: bounds a hair lower.
      const lower = (value: number) => (by === 'costUsd' ? value - Math.abs(value) * 1e-9 : value);
      // A user the corrections leave alone or lower needs `least` in the window already.
      keep((await select([sql`${column} >= ${lower(least)}`], sql``)).rows);
      // One they raise by d needs least - d: looked up by name, each with that bound.
      const raised = [...deltas.values()].filter((d) => d[by] > 0 && !windows.has(userKey(d.connectionId, d.endUser)));
      if (raised.length > 0) {
        const names = raised.map((d) => d.endUser);
        const bounds = raised.map((d) => lower(least - d[by]));
        const where = sql.join(conditions, sql` and `);
        const { rows } =
          dialect === 'postgres'
            ? await sql<WindowRow>`select log_user_windows.* from log_user_windows
                join unnest(${names}::text[], ${bounds}::float8[]) as needed(name, bound) on end_user = needed.name
                where ${where} and ${column} >= needed.bound`.execute(db)
            : // SQLite looks the names up through the key (a join on json_each scanned the table), bounds applied here.
              await sql<WindowRow>`select * from log_user_windows
                where ${where} and end_user in (select value from json_each(${JSON.stringify(names)}))`.execute(db);
        const boundOf = new Map(raised.map((d, i) => [userKey(d.connectionId, d.endUser), bounds[i] as number]));
        for (const row of rows) {
          const key = userKey(row.connectionId, row.endUser);
          const bound = boundOf.get(key);
          if (bound !== undefined && Number(row[by]) >= bound) windows.set(key, row);
        }
        // Raised past `least` on their own: a new user is one without a window row.
        for (const d of raised)
          if (d[by] >= least && !windows.has(userKey(d.connectionId, d.endUser)))
            newUsers.push(userKey(d.connectionId, d.endUser));
      }
    }
  }

  const result: AggregateRow[] = [];
  for (const key of new Set([...windows.keys(), ...(complete ? deltas.keys() : newUsers)])) {
    const totals = exactOf(key, windows.get(key));
    if (!totals || totals.requests <= 0) continue;
    const { connectionId, endUser, ...sums } = totals;
    result.push({ bucket: 0, keys: { endUser, connectionId: connectionId === '' ? null : connectionId }, ...sums });
  }
  return result;
}

/** PostgreSQL returns sums of bigint columns as numbers already (int8 parser); SQLite as numbers too. */
function toNumbers(row: WindowRow): Totals {
  const totals = zeroTotals();
  for (const c of SUMMED) totals[c] = Number(row[c]);
  totals.lastTs = Number(row.lastTs);
  return totals;
}
