// The Store on Kysely: SQLite (better-sqlite3, a file under the data dir) by default,
// PostgreSQL when the database URL says so. Queries are written once; the dialects
// differ only in how the database is opened.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CamelCasePlugin,
  type Expression,
  type ExpressionBuilder,
  Kysely,
  Migrator,
  PostgresDialect,
  type Selectable,
  type SelectQueryBuilder,
  type SqlBool,
  SqliteDialect,
  sql,
} from 'kysely';
import pg from 'pg';
import {
  type AutoReply,
  type Connection,
  type CostBreakdown,
  DAY_MS,
  type EdgeToken,
  type Flag,
  type LogRecord,
  type Operation,
  type ProviderUpstream,
  requestIdPrefix,
  requestIdTime,
  type UpstreamAttempt,
  type UpstreamTarget,
} from '../domain.js';
import { readStoredPolicy } from '../policy-settings.js';
import { addAlertRollups, addErrorRuns, BURST_MIN_ERRORS, queryAlertGroups } from './alert-rollups.js';
import { migrationProvider } from './migrations.js';
import { PostgresBulk } from './postgres-bulk.js';
import {
  type AggregateQuery,
  type AggregateRow,
  addRollups,
  aggregate,
  ERRORS_ONLY,
  FLAGGED_ONLY,
  type RollupUpsert,
  SUMMED,
  UNPRICED_ONLY,
} from './rollups.js';
import type { AutoRepliesTable, ConnectionsTable, Database, EdgeTokensTable, LogsTable } from './schema.js';
import type {
  AlertGroup,
  AutoReplyPatch,
  ConnectionPatch,
  LogFilter,
  LogPage,
  LogPageQuery,
  NewAutoReply,
  NewConnection,
  NewEdgeToken,
  RefusalCount,
  RefusalFilter,
  Store,
} from './store.js';
import { addLateRecords, rollUserWindows, userWindowsAggregate } from './user-windows.js';

export interface StoreOptions {
  /** `postgres://…` selects PostgreSQL; otherwise SQLite under dataDir. */
  databaseUrl?: string | null;
  dataDir: string;
  /** PostgreSQL only: the schema to use (tests run each in their own). */
  schema?: string;
}

export const SQLITE_FILE = 'usage-panda.sqlite';
/** Rows per INSERT statement: keeps PostgreSQL under its 65,535 bind parameters. */
const INSERT_CHUNK = 500;
export const MAX_PAGE = 500;
/** Rows per retention statement. */
const RETENTION_CHUNK = 5_000;
const BODIES_CLEARED_UNTIL = 'retention_bodies_cleared_until';

export const isPostgresUrl = (url: string | null | undefined): url is string =>
  !!url && /^postgres(ql)?:\/\//.test(url);

/** The plugin that maps camelCase names to snake_case columns, with that mapping callable directly. */
class ColumnNames extends CamelCasePlugin {
  column(name: string): string {
    return this.snakeCase(name);
  }
}

export async function openStore(options: StoreOptions): Promise<Store> {
  const names = new ColumnNames();
  const plugins = [names];
  if (isPostgresUrl(options.databaseUrl)) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: 10,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
      // int8 columns hold epoch milliseconds, well inside Number's exact range.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === pg.types.builtins.INT8
            ? Number
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // An idle connection the server dropped (a restart, an admin's pg_terminate_backend) is
    // reported here; the pool discards it and the next query connects anew. Unheard, the
    // 'error' event would end the process.
    pool.on('error', () => {});
    // A connection lost while checked out between two statements of a transaction errs on
    // the client, not the pool: the statement that follows fails, the process stays up.
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins });
    return new SqlStore(db, 'postgres', new PostgresBulk((name) => names.column(name)), options.schema);
  }
  const file = join(options.dataDir, SQLITE_FILE);
  ownerOnly(file);
  const database = new SQLite(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  // The log writer commits thousands of records at a time, each touching pages all over the
  // indexes: a 32 MB page cache keeps them, and checkpoints every 40 MB of log instead of
  // every 4 MB copy each page once per several batches (about 1.5 x the records a second).
  database.pragma('cache_size = -32768');
  database.pragma('wal_autocheckpoint = 10000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }), plugins });
  return new SqlStore(db, 'sqlite', new SqliteLogInserter(database, names));
}

/**
 * Creates the database file 0600, or makes an existing one and its WAL and SHM files so:
 * the log, key hashes and sealed provider keys are nobody else's to read. SQLite creates
 * the WAL and SHM files with the database file's mode, so new ones follow.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(path, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

const newConnectionId = () => `conn_${randomBytes(8).toString('hex')}`;
const newEdgeTokenId = () => `edge_${randomBytes(8).toString('hex')}`;
const bit = (value: boolean) => (value ? 1 : 0);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A provider's upstream goes in as JSON; a base URL as it is. */
const storedUpstream = (upstream: Connection['upstream']) =>
  upstream === null || typeof upstream === 'string' ? upstream : JSON.stringify(upstream);
const storedTargets = (targets: UpstreamTarget[]) => (targets.length === 0 ? null : JSON.stringify(targets));

function toConnection(row: Selectable<ConnectionsTable>): Connection {
  return {
    id: row.id,
    name: row.name,
    keyPrefix: row.keyPrefix,
    enabled: row.enabled === 1,
    policy: readStoredPolicy(parseJson(row.policy)),
    upstream: row.upstream?.startsWith('{') ? (parseJson(row.upstream) as ProviderUpstream) : row.upstream,
    targets: row.targets ? ((parseJson(row.targets) as UpstreamTarget[] | undefined) ?? []) : [],
    providerKeyEncrypted: row.providerKeyEncrypted,
    managedBy: row.managedBy === 'file' ? 'file' : 'api',
    createdAt: Number(row.createdAt),
    updatedAt: Number(row.updatedAt),
  };
}

function toEdgeToken(row: Selectable<EdgeTokensTable>): EdgeToken {
  return {
    id: row.id,
    name: row.name,
    tokenPrefix: row.tokenPrefix,
    connections: row.connections === null ? null : (JSON.parse(row.connections) as string[]),
    createdAt: Number(row.createdAt),
    lastSeenAt: row.lastSeenAt === null ? null : Number(row.lastSeenAt),
  };
}

function toAutoReply(row: Selectable<AutoRepliesTable>): AutoReply {
  return {
    ...row,
    type: row.type === 'completion' ? 'completion' : 'chat',
    connections: JSON.parse(row.connections) as string[],
    managedBy: row.managedBy === 'file' ? 'file' : 'api',
    createdAt: Number(row.createdAt),
    updatedAt: Number(row.updatedAt),
  };
}

function toLogRow(record: LogRecord): LogsTable {
  return {
    ...record,
    stream: bit(record.stream),
    moderated: bit(record.moderated),
    usageEstimated: bit(record.usageEstimated),
    flags: JSON.stringify(record.flags),
    attempts: JSON.stringify(record.attempts),
    // Every row has every column (PostgreSQL's bulk insert takes the columns of the first).
    cacheWriteTokens: record.cacheWriteTokens ?? null,
    cacheWrite1hTokens: record.cacheWrite1hTokens ?? null,
    webSearchRequests: record.webSearchRequests ?? null,
    serviceTier: record.serviceTier ?? null,
    costBreakdown: record.costBreakdown ? JSON.stringify(record.costBreakdown) : null,
  };
}

type LogMetadataColumn = Exclude<keyof LogsTable, 'requestBody' | 'responseBody'>;
/** Every column but the bodies; an object first, so a column added to the table must be added here. */
const LOG_METADATA_COLUMNS = Object.keys({
  id: true,
  ts: true,
  connectionId: true,
  connectionName: true,
  endpoint: true,
  method: true,
  operation: true,
  model: true,
  stream: true,
  status: true,
  error: true,
  latencyMs: true,
  upstreamLatencyMs: true,
  promptTokens: true,
  completionTokens: true,
  totalTokens: true,
  cachedTokens: true,
  reasoningTokens: true,
  cacheWriteTokens: true,
  cacheWrite1hTokens: true,
  webSearchRequests: true,
  serviceTier: true,
  costBreakdown: true,
  usageEstimated: true,
  costUsd: true,
  upstreamId: true,
  organization: true,
  ip: true,
  userAgent: true,
  endUser: true,
  traceId: true,
  flags: true,
  moderated: true,
  provider: true,
  attempts: true,
  edge: true,
} satisfies Record<LogMetadataColumn, true>) as LogMetadataColumn[];

function toLogRecord({
  edge,
  cacheWriteTokens,
  cacheWrite1hTokens,
  webSearchRequests,
  serviceTier,
  costBreakdown,
  ...row
}: Selectable<LogsTable>): LogRecord {
  // The billed parts are absent from records that have none (made before they existed, or free).
  const billed = { cacheWriteTokens, cacheWrite1hTokens, webSearchRequests, serviceTier };
  return {
    ...row,
    ...Object.fromEntries(Object.entries(billed).filter(([, value]) => value !== null)),
    ...(costBreakdown ? { costBreakdown: JSON.parse(costBreakdown) as CostBreakdown } : {}),
    // Only an edge's records say where they were served.
    ...(edge ? { edge } : {}),
    ts: Number(row.ts),
    operation: row.operation as Operation,
    stream: row.stream === 1,
    moderated: row.moderated === 1,
    usageEstimated: row.usageEstimated === 1,
    flags: JSON.parse(row.flags) as Flag[],
    attempts: row.attempts ? (JSON.parse(row.attempts) as UpstreamAttempt[]) : [],
  };
}

/** LIKE pattern for `"type":"<flag>"` inside the flags JSON, wildcards escaped. */
function flagPattern(flagType: string): string {
  const json = JSON.stringify({ type: flagType }).slice(1, -1);
  return `%${json.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');
const decodeCursor = (cursor: string) => Buffer.from(cursor, 'base64url').toString();

/** The WHERE clause of a log filter; shared by pages, exports and stats. */
export function logConditions(filter: LogFilter) {
  return (eb: ExpressionBuilder<Database, 'logs'>): Expression<SqlBool> => {
    const conditions: Expression<SqlBool>[] = [];
    if (filter.connectionId !== undefined) conditions.push(eb('connectionId', '=', filter.connectionId));
    if (filter.endUser !== undefined) conditions.push(eb('endUser', '=', filter.endUser));
    if (filter.model !== undefined) conditions.push(eb('model', '=', filter.model));
    if (filter.operation !== undefined) conditions.push(eb('operation', '=', filter.operation));
    if (filter.provider !== undefined) conditions.push(eb('provider', '=', filter.provider));
    if (filter.traceId !== undefined) conditions.push(eb('traceId', '=', filter.traceId));
    // The same range in ids too (ids begin with their time): a page then reads an id index
    // newest first and stops after a page, instead of sorting every record of the range.
    if (filter.from !== undefined)
      conditions.push(eb('ts', '>=', filter.from), eb('id', '>=', requestIdPrefix(filter.from)));
    if (filter.to !== undefined) conditions.push(eb('ts', '<', filter.to), eb('id', '<', requestIdPrefix(filter.to)));
    if (filter.flagType !== undefined) {
      conditions.push(FLAGGED_ONLY);
      conditions.push(sql<SqlBool>`${eb.ref('flags')} like ${flagPattern(filter.flagType)} escape '\\'`);
    }
    if (filter.error === true) conditions.push(ERRORS_ONLY);
    if (filter.unpriced) conditions.push(UNPRICED_ONLY);
    if (filter.error === false) conditions.push(eb.and([eb('status', '<', 400), eb('error', 'is', null)]));
    return eb.and(conditions);
  };
}

/**
 * The request log's insert on SQLite, the hottest write: one prepared statement reused
 * for every row, instead of building, compiling and preparing a new multi-row INSERT
 * for every batch. It stays because it pays: 70–86 µs of CPU per record (rollups
 * included) against 110–143 µs through Kysely, measured side by side in issue 17.
 */
class SqliteLogInserter {
  /** By column list, so rows with other columns (a newer schema) get their own statement. */
  private readonly statements = new Map<string, { columns: string[]; statement: SQLite.Statement }>();

  constructor(
    private readonly database: SQLite.Database,
    private readonly names: ColumnNames,
  ) {}

  private statementFor(row: LogsTable) {
    const key = Object.keys(row).join(',');
    let entry = this.statements.get(key);
    if (!entry) {
      const columns = Object.keys(row);
      const list = columns.map((c) => `"${this.names.column(c)}"`).join(', ');
      const statement = this.database.prepare(
        // A record retried after a failed batch must not fail the whole batch again.
        `insert into "logs" (${list}) values (${columns.map(() => '?').join(', ')}) on conflict ("id") do nothing`,
      );
      entry = { columns, statement };
      this.statements.set(key, entry);
    }
    return entry;
  }

  /** Rollup upserts, one prepared statement per table, run row by row (inside the caller's transaction). */
  private readonly upserts = new Map<string, SQLite.Statement>();

  readonly upsert: RollupUpsert = (table, key, rows) => {
    const first = rows[0];
    if (!first) return;
    const columns = Object.keys(first);
    const id = `${table}:${columns.join(',')}`;
    let statement = this.upserts.get(id);
    if (!statement) {
      const quoted = (c: string) => `"${this.names.column(c)}"`;
      const sums = SUMMED.map((c) => `${quoted(c)} = ${quoted(c)} + excluded.${quoted(c)}`);
      statement = this.database.prepare(
        `insert into ${quoted(table)} (${columns.map(quoted).join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})
         on conflict (${key.map(quoted).join(', ')}) do update set ${sums.join(', ')},
         ${quoted('lastTs')} = max(${quoted('lastTs')}, excluded.${quoted('lastTs')})`,
      );
      this.upserts.set(id, statement);
    }
    for (const row of rows) statement.run(row);
  };

  /** Inserts inside the caller's transaction; returns the records that were new. */
  insert(batch: readonly LogRecord[]): LogRecord[] {
    return batch.filter((record) => {
      const row = toLogRow(record);
      const { columns, statement } = this.statementFor(row);
      return statement.run(columns.map((column) => row[column as keyof LogsTable])).changes > 0;
    });
  }
}

export class SqlStore implements Store {
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: 'sqlite' | 'postgres',
    /** The request log's and the rollups' writes, made for each database. */
    private readonly writes: SqliteLogInserter | PostgresBulk,
    /** PostgreSQL schema holding the tables, when not the default one. */
    private readonly schema?: string,
  ) {}

  async migrate(): Promise<void> {
    const { error, results } = await new Migrator({
      db: this.db,
      provider: migrationProvider,
      migrationTableSchema: await this.migrationSchema(),
    }).migrateToLatest();
    if (error) {
      const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`database migration ${failed} failed: ${String(error)}`, { cause: error });
    }
  }

  exclusive<T>(name: string, task: () => Promise<T>): Promise<T | null> {
    if (this.dialect !== 'postgres') return task();
    // The lock belongs to a session: one pooled connection is held for it while the task
    // uses the others.
    return this.db.connection().execute(async (session) => {
      const key = sql`hashtext(current_schema() || ':' || ${name})`;
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${key}) as locked`.execute(session);
      if (!rows[0]?.locked) return null;
      try {
        return await task();
      } finally {
        await sql`select pg_advisory_unlock(${key})`.execute(session);
      }
    });
  }

  /**
   * Where Kysely keeps its migration tables on PostgreSQL: the gateway's own schema, the
   * first of the connection's search_path. Unpinned, the Migrator takes those tables in any
   * other schema of the database for its own and then fails to find them on the path.
   */
  private async migrationSchema(): Promise<string | undefined> {
    if (this.schema || this.dialect !== 'postgres') return this.schema;
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(this.db);
    const schema = rows[0]?.schema;
    if (!schema) throw new Error('PostgreSQL has no current schema: create the schema named in search_path first');
    return schema;
  }

  close(): Promise<void> {
    return this.db.destroy();
  }

  async getSetting(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  async revokeSession(id: string, expiresAt: number): Promise<void> {
    // Sessions past their expiry are refused anyway: their rows are no longer needed.
    await this.db.deleteFrom('revokedSessions').where('expiresAt', '<=', Date.now()).execute();
    await this.db
      .insertInto('revokedSessions')
      .values({ id, expiresAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  async isSessionRevoked(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('revokedSessions').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  async insertAutoReply(reply: NewAutoReply): Promise<AutoReply> {
    const now = Date.now();
    const row = await this.db
      .insertInto('autoreplies')
      .values({
        ...reply,
        id: `ar_${randomBytes(8).toString('hex')}`,
        connections: JSON.stringify(reply.connections),
        createdAt: now,
        updatedAt: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toAutoReply(row);
  }

  async updateAutoReply(id: string, patch: AutoReplyPatch): Promise<AutoReply | undefined> {
    const { connections, ...rest } = patch;
    const row = await this.db
      .updateTable('autoreplies')
      .set({
        ...rest,
        ...(connections ? { connections: JSON.stringify(connections) } : {}),
        updatedAt: Date.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toAutoReply(row);
  }

  async findAutoReply(id: string): Promise<AutoReply | undefined> {
    const row = await this.db.selectFrom('autoreplies').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toAutoReply(row);
  }

  async listAutoReplies(): Promise<AutoReply[]> {
    const rows = await this.db.selectFrom('autoreplies').selectAll().orderBy('createdAt').orderBy('id').execute();
    return rows.map(toAutoReply);
  }

  async deleteAutoReply(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('autoreplies').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async insertConnection(connection: NewConnection): Promise<Connection> {
    const now = Date.now();
    const row = await this.db
      .insertInto('connections')
      .values({
        id: newConnectionId(),
        name: connection.name,
        keyHash: connection.keyHash,
        keyPrefix: connection.keyPrefix,
        enabled: bit(connection.enabled),
        policy: JSON.stringify(connection.policy),
        upstream: storedUpstream(connection.upstream),
        targets: storedTargets(connection.targets ?? []),
        providerKeyEncrypted: connection.providerKeyEncrypted,
        managedBy: connection.managedBy,
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toConnection(row);
  }

  async updateConnection(id: string, patch: ConnectionPatch): Promise<Connection | undefined> {
    const row = await this.db
      .updateTable('connections')
      .set({
        name: patch.name,
        enabled: patch.enabled === undefined ? undefined : bit(patch.enabled),
        policy: patch.policy === undefined ? undefined : JSON.stringify(patch.policy),
        upstream: patch.upstream === undefined ? undefined : storedUpstream(patch.upstream),
        targets: patch.targets === undefined ? undefined : storedTargets(patch.targets),
        providerKeyEncrypted: patch.providerKeyEncrypted,
        keyHash: patch.keyHash,
        keyPrefix: patch.keyPrefix,
        managedBy: patch.managedBy,
        updatedAt: Date.now(),
      })
      .where('id', '=', id)
      .where('deletedAt', 'is', null)
      .returningAll()
      .executeTakeFirst();
    return row && toConnection(row);
  }

  private live() {
    return this.db.selectFrom('connections').selectAll().where('deletedAt', 'is', null);
  }

  async findConnectionById(id: string): Promise<Connection | undefined> {
    const row = await this.live().where('id', '=', id).executeTakeFirst();
    return row && toConnection(row);
  }

  async findConnectionByName(name: string): Promise<Connection | undefined> {
    const row = await this.live().where('name', '=', name).executeTakeFirst();
    return row && toConnection(row);
  }

  async findConnectionByKeyHash(keyHash: string): Promise<Connection | undefined> {
    const row = await this.live().where('keyHash', '=', keyHash).executeTakeFirst();
    return row && toConnection(row);
  }

  async listConnections(): Promise<Connection[]> {
    const rows = await this.live().orderBy('createdAt').orderBy('id').execute();
    return rows.map(toConnection);
  }

  async listConnectionsWithKeyHash(): Promise<(Connection & { keyHash: string })[]> {
    const rows = await this.live().orderBy('createdAt').orderBy('id').execute();
    return rows.map((row) => ({ ...toConnection(row), keyHash: row.keyHash }));
  }

  async insertEdgeToken(token: NewEdgeToken): Promise<EdgeToken> {
    const row = await this.db
      .insertInto('edgeTokens')
      .values({
        id: newEdgeTokenId(),
        name: token.name,
        tokenHash: token.tokenHash,
        tokenPrefix: token.tokenPrefix,
        tokenEncrypted: token.tokenEncrypted,
        connections: token.connections === null ? null : JSON.stringify(token.connections),
        createdAt: Date.now(),
        lastSeenAt: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toEdgeToken(row);
  }

  async listEdgeTokens(): Promise<EdgeToken[]> {
    const rows = await this.db.selectFrom('edgeTokens').selectAll().orderBy('createdAt').orderBy('id').execute();
    return rows.map(toEdgeToken);
  }

  async findEdgeTokenByName(name: string): Promise<EdgeToken | undefined> {
    const row = await this.db.selectFrom('edgeTokens').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toEdgeToken(row);
  }

  async findEdgeTokenByHash(tokenHash: string): Promise<(EdgeToken & { tokenEncrypted: string }) | undefined> {
    const row = await this.db
      .selectFrom('edgeTokens')
      .selectAll()
      .where('tokenHash', '=', tokenHash)
      .executeTakeFirst();
    return row && { ...toEdgeToken(row), tokenEncrypted: row.tokenEncrypted };
  }

  async deleteEdgeToken(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('edgeTokens').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async touchEdgeToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('edgeTokens').set({ lastSeenAt: at }).where('id', '=', id).execute();
  }

  async deleteConnection(id: string): Promise<boolean> {
    const now = Date.now();
    const result = await this.db
      .updateTable('connections')
      .set({ deletedAt: now, updatedAt: now, keyHash: `deleted:${id}`, providerKeyEncrypted: null })
      .where('id', '=', id)
      .where('deletedAt', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async insertLogs(batch: readonly LogRecord[]): Promise<void> {
    if (batch.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      // Only records actually inserted count towards the rollups, so a retry never counts twice.
      let counted: LogRecord[];
      let upsert: RollupUpsert;
      if (this.writes instanceof SqliteLogInserter) {
        counted = this.writes.insert(batch);
        upsert = this.writes.upsert;
      } else {
        const inserted = await this.writes.insertLogs(trx, batch.map(toLogRow));
        counted = inserted.size === batch.length ? [...batch] : batch.filter((record) => inserted.has(record.id));
        upsert = this.writes.upsert(trx);
      }
      await addAlertRollups(trx, counted);
      await addRollups(upsert, counted);
      await addLateRecords(trx, this.dialect, upsert, counted);
      await addErrorRuns(trx, counted, this.dialect === 'postgres');
    });
  }

  async aggregateLogs(query: AggregateQuery): Promise<AggregateRow[]> {
    const fromWindows = await userWindowsAggregate(this.db, this.dialect, query, (part) => aggregate(this.db, part));
    return fromWindows ?? aggregate(this.db, query);
  }

  rollUserWindows(now: number): Promise<{ asOf: number; rebuilt: boolean } | null> {
    return rollUserWindows(this.db, this.dialect, now);
  }

  async deleteLogsBefore(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      // Small chunks keep each write transaction short next to the log writer.
      const result = await this.db
        .deleteFrom('logs')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('logs')
            .select('id')
            .where('id', '<', requestIdPrefix(before))
            .where('ts', '<', before)
            .limit(RETENTION_CHUNK),
        )
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      total += deleted;
      if (deleted < RETENTION_CHUNK) break;
    }
    // Runs of upstream errors too short to be a burst, over before the cut: alerts never need them again.
    for (;;) {
      const { numAffectedRows } = await sql`delete from log_error_runs where (connection_id, last_ts) in
        (select connection_id, last_ts from log_error_runs
          where last_ts < ${before} and count < ${BURST_MIN_ERRORS} limit ${RETENTION_CHUNK})`.execute(this.db);
      if (Number(numAffectedRows ?? 0) < RETENTION_CHUNK) break;
    }
    await this.db.deleteFrom('refusals').where('minute', '<', before).execute();
    return total;
  }

  async clearBodiesBefore(before: number): Promise<number> {
    // Records before the mark were cleared by an earlier sweep; start from there, not from the oldest.
    const mark = Number((await this.getSetting(BODIES_CLEARED_UNTIL)) ?? 0);
    if (before <= mark) return 0;
    let total = 0;
    for (;;) {
      const result = await this.db
        .updateTable('logs')
        .set({ requestBody: null, responseBody: null })
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('logs')
            .select('id')
            .where('id', '>=', requestIdPrefix(mark))
            .where('id', '<', requestIdPrefix(before))
            .where('ts', '>=', mark)
            .where('ts', '<', before)
            .where((w) => w.or([w('requestBody', 'is not', null), w('responseBody', 'is not', null)]))
            .limit(RETENTION_CHUNK),
        )
        .executeTakeFirst();
      const cleared = Number(result.numUpdatedRows);
      total += cleared;
      if (cleared < RETENTION_CHUNK) break;
    }
    await this.setSetting(BODIES_CLEARED_UNTIL, String(before));
    return total;
  }

  async connectionNames(): Promise<Map<string, string>> {
    // Deleted connections too: their records keep their name in the stats.
    const rows = await this.db.selectFrom('connections').select(['id', 'name']).execute();
    return new Map(rows.map((row) => [row.id, row.name]));
  }

  async findLog(id: string): Promise<LogRecord | undefined> {
    const row = await this.db.selectFrom('logs').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toLogRecord(row);
  }

  async addRefusals(counts: readonly RefusalCount[]): Promise<void> {
    if (counts.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (let start = 0; start < counts.length; start += INSERT_CHUNK) {
        await trx
          .insertInto('refusals')
          .values(counts.slice(start, start + INSERT_CHUNK))
          .onConflict((oc) =>
            oc
              .columns(['minute', 'ip', 'source', 'status'])
              .doUpdateSet((eb) => ({ count: eb('refusals.count', '+', eb.ref('excluded.count')) })),
          )
          .execute();
      }
    });
  }

  async queryRefusals(filter: RefusalFilter, limit: number): Promise<RefusalCount[]> {
    let query = this.db.selectFrom('refusals').selectAll();
    if (filter.ip !== undefined) query = query.where('ip', '=', filter.ip);
    if (filter.source !== undefined) query = query.where('source', '=', filter.source);
    if (filter.from !== undefined) query = query.where('minute', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('minute', '<', filter.to);
    const rows = await query
      .orderBy('minute', 'desc')
      .orderBy('count', 'desc')
      .orderBy('ip')
      .limit(Math.min(Math.max(Math.trunc(limit) || 1, 1), MAX_PAGE))
      .execute();
    return rows.map((row) => ({
      ...row,
      minute: Number(row.minute),
      source: row.source === 'admin' ? 'admin' : 'proxy',
    }));
  }

  async queryLogs(filter: LogFilter, page: LogPageQuery): Promise<LogPage> {
    const limit = Math.min(Math.max(Math.trunc(page.limit) || 1, 1), MAX_PAGE);
    const select = () => {
      let query = (
        page.bodies === false
          ? this.db
              .selectFrom('logs')
              .select([...LOG_METADATA_COLUMNS, sql<null>`null`.as('requestBody'), sql<null>`null`.as('responseBody')])
          : this.db.selectFrom('logs').selectAll()
      ).where(logConditions(filter));
      if (page.cursor) query = query.where('id', '<', decodeCursor(page.cursor));
      if (page.since) query = query.where('id', '>', page.since);
      return query.orderBy('id', 'desc');
    };
    const rows =
      filter.endUser === undefined
        ? await select()
            .limit(limit + 1)
            .execute()
        : await this.userPage(select, filter, page, limit + 1);
    const records = rows.slice(0, limit).map(toLogRecord);
    const last = records.at(-1);
    return { records, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
  }

  queryAlerts(query: { connectionId?: string; from: number; to: number }): Promise<AlertGroup[]> {
    return queryAlertGroups(this.db, query);
  }

  /**
   * A page of one end user's records. Their index starts with the UTC day (see migration
   * 0011: a new record's entry then lands among today's, not at a random place in all of
   * them), so the page is read a day at a time, newest first, each day newest first, until
   * it is full or the days run out: those of the range, the cursor and the log.
   */
  private async userPage<Row>(
    select: () => SelectQueryBuilder<Database, 'logs', Row>,
    filter: LogFilter,
    page: LogPageQuery,
    wanted: number,
  ): Promise<Row[]> {
    // Two statements: each is one end of the primary key, where min and max together are a scan.
    const end = (order: 'asc' | 'desc') =>
      this.db.selectFrom('logs').select('id').orderBy('id', order).limit(1).executeTakeFirst();
    const bounds = { oldest: (await end('asc'))?.id, newest: (await end('desc'))?.id };
    if (!bounds.oldest || !bounds.newest) return [];
    const newest = Math.min(
      requestIdTime(bounds.newest),
      filter.to === undefined ? Number.POSITIVE_INFINITY : filter.to - 1,
      page.cursor ? requestIdTime(decodeCursor(page.cursor)) : Number.POSITIVE_INFINITY,
    );
    const oldest = Math.max(
      requestIdTime(bounds.oldest),
      filter.from ?? Number.NEGATIVE_INFINITY,
      page.since ? requestIdTime(page.since) : Number.NEGATIVE_INFINITY,
    );
    // Ids that do not begin with a time (none the gateway makes): the plain query, whatever it costs.
    if (!Number.isFinite(newest) || !Number.isFinite(oldest)) return select().limit(wanted).execute();
    const rows: Row[] = [];
    for (let day = Math.floor(newest / DAY_MS); day >= Math.floor(oldest / DAY_MS) && rows.length < wanted; day--) {
      rows.push(
        ...(await select()
          .where(sql<number>`${LOG_DAY}`, '=', day)
          .limit(wanted - rows.length)
          .execute()),
      );
    }
    return rows;
  }
}

/** A record's UTC day as the end users' index has it (written the same way, so both databases use the index). */
const LOG_DAY = sql.raw('ts / 86400000');
