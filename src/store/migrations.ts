// Schema migrations, in code so they ship inside the package and run at start. Each
// migration is written once for both dialects; `sql` types differ only where they must.
import {
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  PostgresAdapter,
  type SqlBool,
  sql,
} from 'kysely';
import { fillAlertRollups } from './alert-rollups.js';
import { ERRORS_ONLY, FLAGGED_ONLY, UNPRICED_ONLY } from './rollups.js';
import type { Database } from './schema.js';

/** 64-bit integer for epoch milliseconds: SQLite's INTEGER is already 64-bit. */
const bigint = 'bigint' as const;

const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('settings')
      .addColumn('key', 'text', (col) => col.primaryKey())
      .addColumn('value', 'text', (col) => col.notNull())
      .execute();

    await db.schema
      .createTable('connections')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('name', 'text', (col) => col.notNull())
      .addColumn('key_hash', 'text', (col) => col.notNull().unique())
      .addColumn('key_prefix', 'text', (col) => col.notNull())
      .addColumn('enabled', 'integer', (col) => col.notNull())
      .addColumn('policy', 'text', (col) => col.notNull())
      .addColumn('upstream', 'text')
      .addColumn('provider_key_encrypted', 'text')
      .addColumn('managed_by', 'text', (col) => col.notNull())
      .addColumn('created_at', bigint, (col) => col.notNull())
      .addColumn('updated_at', bigint, (col) => col.notNull())
      .addColumn('deleted_at', bigint)
      .execute();

    await db.schema
      .createTable('logs')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('ts', bigint, (col) => col.notNull())
      .addColumn('connection_id', 'text')
      .addColumn('connection_name', 'text')
      .addColumn('endpoint', 'text', (col) => col.notNull())
      .addColumn('method', 'text', (col) => col.notNull())
      .addColumn('operation', 'text', (col) => col.notNull())
      .addColumn('model', 'text')
      .addColumn('stream', 'integer', (col) => col.notNull())
      .addColumn('status', 'integer', (col) => col.notNull())
      .addColumn('error', 'text')
      .addColumn('latency_ms', 'double precision', (col) => col.notNull())
      .addColumn('upstream_latency_ms', 'double precision')
      .addColumn('prompt_tokens', 'integer')
      .addColumn('completion_tokens', 'integer')
      .addColumn('total_tokens', 'integer')
      .addColumn('cost_usd', 'double precision')
      .addColumn('upstream_id', 'text')
      .addColumn('organization', 'text')
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('end_user', 'text')
      .addColumn('trace_id', 'text')
      .addColumn('flags', 'text', (col) => col.notNull())
      .addColumn('moderated', 'integer', (col) => col.notNull())
      .addColumn('provider', 'text', (col) => col.notNull())
      .addColumn('request_body', 'text')
      .addColumn('response_body', 'text')
      .execute();

    // Pages are read newest first by id (ids are time-ordered), optionally narrowed.
    await db.schema.createIndex('logs_ts').on('logs').column('ts').execute();
    await db.schema.createIndex('logs_connection_id').on('logs').columns(['connection_id', 'id']).execute();
    await db.schema.createIndex('logs_end_user_id').on('logs').columns(['end_user', 'id']).execute();
    await db.schema.createIndex('logs_model_id').on('logs').columns(['model', 'id']).execute();
    await db.schema.createIndex('logs_trace_id').on('logs').column('trace_id').execute();
  },
};

/** Issue 3's policies: every upstream attempt on the log record, and auto-replies. */
const policies: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('logs').addColumn('attempts', 'text').execute();
    await db.schema
      .createTable('autoreplies')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('type', 'text', (col) => col.notNull())
      .addColumn('request', 'text', (col) => col.notNull())
      .addColumn('response', 'text', (col) => col.notNull())
      .addColumn('connections', 'text', (col) => col.notNull())
      .addColumn('managed_by', 'text', (col) => col.notNull())
      .addColumn('created_at', bigint, (col) => col.notNull())
      .addColumn('updated_at', bigint, (col) => col.notNull())
      .execute();
  },
};

/** The summed columns every rollup table has after its key (see rollups.ts `Totals`). */
const withTotals = <T extends string, C extends string>(table: CreateTableBuilder<T, C>) =>
  table
    .addColumn('requests', 'integer', (col) => col.notNull())
    .addColumn('errors', 'integer', (col) => col.notNull())
    .addColumn('flagged', 'integer', (col) => col.notNull())
    .addColumn('moderated', 'integer', (col) => col.notNull())
    .addColumn('prompt_tokens', bigint, (col) => col.notNull())
    .addColumn('completion_tokens', bigint, (col) => col.notNull())
    .addColumn('total_tokens', bigint, (col) => col.notNull())
    .addColumn('cost_usd', 'double precision', (col) => col.notNull())
    .addColumn('unpriced', 'integer', (col) => col.notNull())
    .addColumn('latency_ms_sum', 'double precision', (col) => col.notNull())
    .addColumn('last_ts', bigint, (col) => col.notNull());

/**
 * Issue 4: token details, whether the tokens were counted by the gateway, and hourly
 * rollups the stats read instead of the raw log. Rollup keys use '' for "none" so they can
 * be part of the primary key on both databases.
 */
const usageDetails: Migration = {
  async up(db: Kysely<unknown>) {
    // The same sums twice: per end user for the users table, and without the user dimension
    // (at most connections × models × operations rows an hour) for everything else.
    for (const table of ['log_rollups', 'log_hour_totals']) {
      await db.schema
        .createTable(table)
        .addColumn('hour', bigint, (col) => col.notNull())
        .addColumn('connection_id', 'text', (col) => col.notNull())
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('operation', 'text', (col) => col.notNull())
        .addColumn('end_user', 'text', (col) => col.notNull())
        .$call(withTotals)
        .addPrimaryKeyConstraint(`${table}_pk`, ['hour', 'connection_id', 'model', 'operation', 'end_user'])
        .execute();
      await db.schema.createIndex(`${table}_connection_hour`).on(table).columns(['connection_id', 'hour']).execute();
    }
    await db.schema.alterTable('logs').addColumn('cached_tokens', 'integer').execute();
    await db.schema.alterTable('logs').addColumn('reasoning_tokens', 'integer').execute();
    await db.schema
      .alterTable('logs')
      .addColumn('usage_estimated', 'integer', (col) => col.notNull().defaultTo(0))
      .execute();
  },
};

/**
 * Issue 4: daily sums per connection × end user. The hourly per-user rollup grows nearly as
 * large as the log when users are many; the users table reads whole days from this one.
 * Filled from the hourly rollups, so stats stay equal across the upgrade.
 */
const userDays: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('log_user_days')
      .addColumn('day', bigint, (col) => col.notNull())
      .addColumn('connection_id', 'text', (col) => col.notNull())
      .addColumn('end_user', 'text', (col) => col.notNull())
      .$call(withTotals)
      .addPrimaryKeyConstraint('log_user_days_pk', ['day', 'connection_id', 'end_user'])
      .execute();
    await db.schema.createIndex('log_user_days_end_user').on('log_user_days').columns(['end_user', 'day']).execute();
    await sql`insert into log_user_days
      select hour - hour % 86400000 as day, connection_id, end_user, sum(requests), sum(errors), sum(flagged),
        sum(moderated), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(cost_usd),
        sum(unpriced), sum(latency_ms_sum), max(last_ts)
      from log_rollups group by hour - hour % 86400000, connection_id, end_user`.execute(db);
  },
};

/**
 * Issue 15: requests refused before any connection is known (a wrong key, a wrong admin
 * token) are counted per minute, IP, source and status instead of logged one by one.
 */
const refusals: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('refusals')
      .addColumn('minute', bigint, (col) => col.notNull())
      .addColumn('ip', 'text', (col) => col.notNull())
      .addColumn('source', 'text', (col) => col.notNull())
      .addColumn('status', 'integer', (col) => col.notNull())
      .addColumn('count', 'integer', (col) => col.notNull())
      .addPrimaryKeyConstraint('refusals_pk', ['minute', 'ip', 'source', 'status'])
      .execute();
  },
};

/** Issue 15: signing out revokes the session on the server, for every replica. */
const revokedSessions: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('revoked_sessions')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('expires_at', bigint, (col) => col.notNull())
      .execute();
  },
};

/** Issue 14: a connection's routing targets (JSON); `upstream` may hold a provider's upstream as JSON too. */
const targets: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('connections').addColumn('targets', 'text').execute();
  },
};

/**
 * Issue 14: the provider that answered becomes a key of the hourly rollups, for the
 * dashboard's provider breakdown. A primary key cannot change in SQLite, so each table is
 * rebuilt with the column and its rows copied. An existing row reads as the provider of its
 * records when the log still holds them and they name one provider (before routing every
 * record's was `openai`), and as `openai` otherwise.
 */
const rollupProviders: Migration = {
  async up(db: Kysely<unknown>) {
    const hourOfTs = sql`ts - ts % ${sql.lit(3_600_000)}`;
    for (const [table, perUser] of [
      ['log_rollups', true],
      ['log_hour_totals', false],
    ] as const) {
      const next = `${table}_next`;
      await db.schema
        .createTable(next)
        .addColumn('hour', bigint, (col) => col.notNull())
        .addColumn('connection_id', 'text', (col) => col.notNull())
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('operation', 'text', (col) => col.notNull())
        .addColumn('provider', 'text', (col) => col.notNull())
        .addColumn('end_user', 'text', (col) => col.notNull())
        .$call(withTotals)
        // Named apart from the old table's key, whose name PostgreSQL keeps until the table goes.
        .addPrimaryKeyConstraint(`${table}_provider_pk`, [
          'hour',
          'connection_id',
          'model',
          'operation',
          'provider',
          'end_user',
        ])
        .execute();
      // PostgreSQL refuses a constant in GROUP BY: the table without users groups without it.
      const endUser = perUser ? sql`coalesce(end_user, '')` : sql`''`;
      const byEndUser = perUser ? sql`, coalesce(end_user, '')` : sql``;
      await sql`insert into ${sql.table(next)}
        select r.hour, r.connection_id, r.model, r.operation, coalesce(p.provider, 'openai'), r.end_user,
          r.requests, r.errors, r.flagged, r.moderated, r.prompt_tokens, r.completion_tokens, r.total_tokens,
          r.cost_usd, r.unpriced, r.latency_ms_sum, r.last_ts
        from ${sql.table(table)} r left join (
          select ${hourOfTs} as hour, coalesce(connection_id, '') as connection_id, coalesce(model, '') as model,
            operation, ${endUser} as end_user, min(provider) as provider
          from logs
          group by ${hourOfTs}, coalesce(connection_id, ''), coalesce(model, ''), operation${byEndUser}
          having count(distinct provider) = 1
        ) p on p.hour = r.hour and p.connection_id = r.connection_id and p.model = r.model
          and p.operation = r.operation and p.end_user = r.end_user`.execute(db);
      await db.schema.dropTable(table).execute();
      await db.schema.alterTable(next).renameTo(table).execute();
      await db.schema.createIndex(`${table}_connection_hour`).on(table).columns(['connection_id', 'hour']).execute();
    }
  },
};

/** Issue 16: edge gateways' tokens, and which edge served each record (null: this gateway). */
const edgeProxies: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('edge_tokens')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('name', 'text', (col) => col.notNull().unique())
      .addColumn('token_hash', 'text', (col) => col.notNull().unique())
      .addColumn('token_prefix', 'text', (col) => col.notNull())
      .addColumn('token_encrypted', 'text', (col) => col.notNull())
      .addColumn('connections', 'text')
      .addColumn('created_at', bigint, (col) => col.notNull())
      .addColumn('last_seen_at', bigint)
      .execute();
    await db.schema.alterTable('logs').addColumn('edge', 'text').execute();
  },
};

/**
 * Issue 16: an index for each Logs filter that had none, so a page is the newest rows of
 * an index instead of a scan of the range. Errors (2 % of records), flagged records (5 %)
 * and records without a price get partial indexes; the queries repeat the predicates literally so both
 * databases see that the index covers them.
 */
const logFilterIndexes: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.createIndex('logs_operation_id').on('logs').columns(['operation', 'id']).execute();
    await db.schema.createIndex('logs_provider_id').on('logs').columns(['provider', 'id']).execute();
    await db.schema.createIndex('logs_errors_id').on('logs').column('id').where(ERRORS_ONLY).execute();
    await db.schema.createIndex('logs_flagged_id').on('logs').column('id').where(FLAGGED_ONLY).execute();
    await db.schema.createIndex('logs_unpriced_id').on('logs').column('id').where(UNPRICED_ONLY).execute();
  },
};

const SUMS = sql`sum(requests), sum(errors), sum(flagged), sum(moderated), sum(prompt_tokens),
  sum(completion_tokens), sum(total_tokens), sum(cost_usd), sum(unpriced), sum(latency_ms_sum), max(last_ts)`;

/**
 * Issue 16: rollups shaped by the queries that read them, so a range reads few rows
 * whatever the record count. Daily sums per connection × model × operation × provider
 * (long ranges read days, only the edges hours), the same per hour and per day over every
 * connection (the dashboard without a connection filter) and per connection alone (its
 * summary), and the end users' hourly sums
 * without the model, operation and provider (the per-user hourly and daily tables had a row
 * for nearly every record). Each new table is filled from the rollups the store already has; the end
 * users' sliding windows (see `rollUserWindows`) are built by the log worker's first roll.
 */
const rollupsByShape: Migration = {
  async up(db: Kysely<unknown>) {
    const day = sql`hour - hour % ${sql.lit(86_400_000)}`;
    await db.schema
      .createTable('log_day_totals')
      .addColumn('day', bigint, (col) => col.notNull())
      .addColumn('connection_id', 'text', (col) => col.notNull())
      .addColumn('model', 'text', (col) => col.notNull())
      .addColumn('operation', 'text', (col) => col.notNull())
      .addColumn('provider', 'text', (col) => col.notNull())
      .$call(withTotals)
      .addPrimaryKeyConstraint('log_day_totals_pk', ['day', 'connection_id', 'model', 'operation', 'provider'])
      .execute();
    await db.schema
      .createIndex('log_day_totals_connection_day')
      .on('log_day_totals')
      .columns(['connection_id', 'day'])
      .execute();
    await sql`insert into log_day_totals select ${day}, connection_id, model, operation, provider, ${SUMS}
      from log_hour_totals group by ${day}, connection_id, model, operation, provider`.execute(db);

    for (const [table, unit, source] of [
      ['log_hour_overall', 'hour', sql`hour`],
      ['log_day_overall', 'day', day],
    ] as const) {
      await db.schema
        .createTable(table)
        .addColumn(unit, bigint, (col) => col.notNull())
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('operation', 'text', (col) => col.notNull())
        .addColumn('provider', 'text', (col) => col.notNull())
        .$call(withTotals)
        .addPrimaryKeyConstraint(`${table}_pk`, [unit, 'model', 'operation', 'provider'])
        .execute();
      await sql`insert into ${sql.table(table)} select ${source}, model, operation, provider, ${SUMS}
        from log_hour_totals group by ${source}, model, operation, provider`.execute(db);
    }
    // A connection's summary in a zone whose days are not UTC days reads one row an hour.
    for (const [table, unit, source] of [
      ['log_hour_connections', 'hour', sql`hour`],
      ['log_day_connections', 'day', day],
    ] as const) {
      await db.schema
        .createTable(table)
        .addColumn(unit, bigint, (col) => col.notNull())
        .addColumn('connection_id', 'text', (col) => col.notNull())
        .$call(withTotals)
        .addPrimaryKeyConstraint(`${table}_pk`, [unit, 'connection_id'])
        .execute();
      await db.schema.createIndex(`${table}_connection`).on(table).columns(['connection_id', unit]).execute();
      await sql`insert into ${sql.table(table)} select ${source}, connection_id, ${SUMS}
        from log_hour_totals group by ${source}, connection_id`.execute(db);
    }

    await db.schema
      .createTable('log_user_hours')
      .addColumn('hour', bigint, (col) => col.notNull())
      .addColumn('connection_id', 'text', (col) => col.notNull())
      .addColumn('end_user', 'text', (col) => col.notNull())
      .$call(withTotals)
      .addPrimaryKeyConstraint('log_user_hours_pk', ['hour', 'connection_id', 'end_user'])
      .execute();
    await sql`insert into log_user_hours select hour, connection_id, end_user, ${SUMS}
      from log_rollups group by hour, connection_id, end_user`.execute(db);
    // Both per-user tables had nearly a row per record, each a random write: the users
    // table now reads the windows, and the hourly user sums for the rest.
    await db.schema.dropTable('log_rollups').execute();
    await db.schema.dropTable('log_user_days').execute();

    await db.schema
      .createTable('log_user_windows')
      .addColumn('span_hours', 'integer', (col) => col.notNull())
      .addColumn('connection_id', 'text', (col) => col.notNull())
      .addColumn('end_user', 'text', (col) => col.notNull())
      .$call(withTotals)
      // Users are looked up by name (the users a range's corrections touch), listed per connection.
      .addPrimaryKeyConstraint('log_user_windows_pk', ['span_hours', 'end_user', 'connection_id'])
      .execute();
    await db.schema
      .createIndex('log_user_windows_connection')
      .on('log_user_windows')
      .columns(['span_hours', 'connection_id'])
      .execute();
    // Every read of a time range also bounds the ids (a time range is an id range), which the
    // primary key serves; trace ids are rare, so only records with one are indexed.
    await db.schema.dropIndex('logs_ts').execute();
    await db.schema.dropIndex('logs_trace_id').execute();
    await db.schema
      .createIndex('logs_trace_id')
      .on('logs')
      .column('trace_id')
      .where(sql<SqlBool>`trace_id is not null`)
      .execute();
    // An end user's records by day first: a new entry lands among today's (a small, cached
    // part of the index) instead of anywhere among every record's, which made each insert a
    // random page write. A page of one user's records reads a day at a time (`userPage`).
    await db.schema.dropIndex('logs_end_user_id').execute();
    await sql`create index logs_end_user_day on logs ((ts / 86400000), end_user, id)`.execute(db);
    // Alerts read a connection's errors and unpriced records: their own small indexes.
    await db.schema
      .createIndex('logs_errors_connection_id')
      .on('logs')
      .columns(['connection_id', 'id'])
      .where(ERRORS_ONLY)
      .execute();
    await db.schema
      .createIndex('logs_unpriced_connection_id')
      .on('logs')
      .columns(['connection_id', 'id'])
      .where(UNPRICED_ONLY)
      .execute();
    // Present from the start, so writers always have the row to share a lock on with the roll.
    await sql`insert into settings (key, value) values ('user_windows_as_of', '')`.execute(db);
  },
};

/**
 * The users table's top lists read the windows in the list's order: an index per order, so
 * a top list and its bound read a few rows instead of sorting every user of the window. The
 * one on requests also finds the users whose every record left a window.
 */
const userWindowOrders: Migration = {
  async up(db: Kysely<unknown>) {
    for (const [name, columns] of [
      ['cost', ['cost_usd', 'requests']],
      ['requests', ['requests']],
      ['errors', ['errors', 'requests']],
      ['flagged', ['flagged', 'requests']],
      ['moderated', ['moderated', 'requests']],
    ] as const)
      await db.schema
        .createIndex(`log_user_windows_${name}`)
        .on('log_user_windows')
        .columns(['span_hours', ...columns])
        .execute();
  },
};

/** The columns of records summed as an alert reports them (schema.ts `AlertSums`). */
const withAlertSums = <T extends string, C extends string>(table: CreateTableBuilder<T, C>) =>
  table
    .addColumn('connection_id', 'text', (col) => col.notNull())
    .addColumn('subject', 'text', (col) => col.notNull())
    .addColumn('count', 'integer', (col) => col.notNull())
    .addColumn('first_ts', bigint, (col) => col.notNull())
    .addColumn('last_ts', bigint, (col) => col.notNull())
    .addColumn('connection_name', 'text')
    .addColumn('detail', 'text');

/**
 * Issue 16: the rollups alerts read (alert-rollups.ts) — blocked and unpriced records per
 * hour and per UTC day, and each connection's runs of upstream errors, the bursts among
 * them (runs of 3 errors or more, BURST_MIN_ERRORS) in an index of their own — filled from
 * the log's errors and unpriced records.
 */
const alertRollups: Migration = {
  async up(db: Kysely<unknown>) {
    for (const [table, unit] of [
      ['log_alert_hours', 'hour'],
      ['log_alert_days', 'day'],
    ] as const)
      await db.schema
        .createTable(table)
        .addColumn(unit, bigint, (col) => col.notNull())
        .addColumn('kind', 'text', (col) => col.notNull())
        .$call(withAlertSums)
        .addPrimaryKeyConstraint(`${table}_pk`, [unit, 'kind', 'connection_id', 'subject'])
        .execute();
    // Runs of one connection never overlap: their ends are distinct.
    await db.schema
      .createTable('log_error_runs')
      .$call(withAlertSums)
      .addPrimaryKeyConstraint('log_error_runs_pk', ['connection_id', 'last_ts'])
      .execute();
    await db.schema
      .createIndex('log_error_runs_bursts')
      .on('log_error_runs')
      .column('last_ts')
      .where(sql<SqlBool>`count >= 3`)
      .execute();
    await fillAlertRollups(db as Kysely<Database>);
  },
};

/** The usage columns of a rollup row in PostgreSQL's own types, "none" as null. */
const USAGE_VIEW_COLUMNS = sql`nullif(connection_id, '') as connection_id, nullif(model, '') as model, operation,
  provider, requests, errors, flagged, moderated, prompt_tokens, completion_tokens, total_tokens, cost_usd, unpriced,
  latency_ms_sum / nullif(requests, 0) as avg_latency_ms`;

/**
 * Issue 16: on PostgreSQL, the request log and its rollups in PostgreSQL's own types, for
 * operators who point Grafana, Metabase or psql at the database: `requests` (a row per
 * record: timestamptz, booleans, jsonb), `usage_hourly` and `usage_daily` (per connection ×
 * model × operation × provider). Views, so the gateway's tables keep one shape on both
 * databases; SQLite keeps its own types and has none.
 */
const postgresViews: Migration = {
  async up(db: Kysely<unknown>) {
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`create view requests as select id, to_timestamp(ts / 1000.0) as time, ts, connection_id, connection_name,
      edge, endpoint, method, operation, provider, model, stream <> 0 as stream, status, error, latency_ms,
      upstream_latency_ms, prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens,
      usage_estimated <> 0 as usage_estimated, cost_usd, upstream_id, organization, ip, user_agent, end_user,
      trace_id, flags::jsonb as flags, moderated <> 0 as moderated, attempts::jsonb as attempts, request_body,
      response_body from logs`.execute(db);
    await sql`create view usage_hourly as select to_timestamp(hour / 1000.0) as hour, ${USAGE_VIEW_COLUMNS}
      from log_hour_totals`.execute(db);
    await sql`create view usage_daily as select to_timestamp(day / 1000.0) as day, ${USAGE_VIEW_COLUMNS}
      from log_day_totals`.execute(db);
  },
};

/**
 * Issue 24: prices as providers bill — the cache writes (and their 1-hour part), web searches
 * and service tier a record was billed for, and its cost by part (CostBreakdown as JSON). On
 * PostgreSQL the `requests` view gains them at its end (a view can only grow there).
 */
const billedParts: Migration = {
  async up(db: Kysely<unknown>) {
    // A store that ran it before (an upgrade run again from an earlier migration) has them already.
    const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
    const has = postgres
      ? new Set<string>()
      : new Set((await sql<{ name: string }>`pragma table_info(logs)`.execute(db)).rows.map((row) => row.name));
    const columns = [
      ['cache_write_tokens', 'integer'],
      ['cache_write1h_tokens', 'integer'],
      ['web_search_requests', 'integer'],
      ['service_tier', 'text'],
      ['cost_breakdown', 'text'],
    ] as const;
    for (const [column, type] of columns) {
      if (postgres)
        await sql`alter table logs add column if not exists ${sql.ref(column)} ${sql.raw(type)}`.execute(db);
      else if (!has.has(column)) await db.schema.alterTable('logs').addColumn(column, type).execute();
    }
    if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
    await sql`create or replace view requests as select id, to_timestamp(ts / 1000.0) as time, ts, connection_id,
      connection_name, edge, endpoint, method, operation, provider, model, stream <> 0 as stream, status, error,
      latency_ms, upstream_latency_ms, prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens,
      usage_estimated <> 0 as usage_estimated, cost_usd, upstream_id, organization, ip, user_agent, end_user,
      trace_id, flags::jsonb as flags, moderated <> 0 as moderated, attempts::jsonb as attempts, request_body,
      response_body, cache_write_tokens, cache_write1h_tokens, web_search_requests, service_tier,
      cost_breakdown::jsonb as cost_breakdown from logs`.execute(db);
  },
};

export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_policies': policies,
  '0003_usage_and_rollups': usageDetails,
  '0004_user_days': userDays,
  '0005_refusals': refusals,
  '0006_revoked_sessions': revokedSessions,
  '0007_targets': targets,
  '0008_rollup_providers': rollupProviders,
  '0009_edge_proxies': edgeProxies,
  '0010_log_filter_indexes': logFilterIndexes,
  '0011_rollups_by_shape': rollupsByShape,
  '0012_user_window_orders': userWindowOrders,
  '0013_alert_rollups': alertRollups,
  '0014_postgres_views': postgresViews,
  '0015_billed_parts': billedParts,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
