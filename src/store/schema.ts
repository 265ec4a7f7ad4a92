// The tables as Kysely sees them. Column names are camelCase here and snake_case in SQL
// (CamelCasePlugin). One shape serves SQLite and PostgreSQL: times are epoch milliseconds
// in 64-bit integers, booleans are 0/1 integers and lists are JSON text, so rows read back
// the same from either database.
import type { LogRecord } from '../domain.js';
import type { AlertGroup } from './store.js';

export interface SettingsTable {
  key: string;
  value: string;
}

export interface ConnectionsTable {
  id: string;
  name: string;
  /** sha256 of the key; `deleted:<id>` once the connection is deleted. */
  keyHash: string;
  keyPrefix: string;
  enabled: number;
  /** PolicySettings as JSON. */
  policy: string;
  /** A base URL, or a provider's upstream as JSON (starting with `{`). */
  upstream: string | null;
  /** UpstreamTarget[] as JSON; null when none. */
  targets: string | null;
  providerKeyEncrypted: string | null;
  managedBy: string;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

/** The record's columns; what SQL cannot hold as is goes in as 0/1 or JSON text. */
export type LogsTable = Omit<
  LogRecord,
  | 'operation'
  | 'stream'
  | 'usageEstimated'
  | 'moderated'
  | 'flags'
  | 'attempts'
  | 'cacheWriteTokens'
  | 'cacheWrite1hTokens'
  | 'webSearchRequests'
  | 'serviceTier'
  | 'costBreakdown'
> & {
  operation: string;
  stream: number;
  usageEstimated: number;
  moderated: number;
  /** Flag[] as JSON. */
  flags: string;
  /** UpstreamAttempt[] as JSON; null in records written before it existed. */
  attempts: string | null;
  cacheWriteTokens: number | null;
  cacheWrite1hTokens: number | null;
  webSearchRequests: number | null;
  serviceTier: string | null;
  /** CostBreakdown as JSON; null when the record has none. */
  costBreakdown: string | null;
};

export interface AutoRepliesTable {
  id: string;
  type: string;
  request: string;
  response: string;
  /** string[] as JSON. */
  connections: string;
  managedBy: string;
  createdAt: number;
  updatedAt: number;
}

/** One hour of one connection × model × operation × provider × end user ('' = none), summed. */
export interface LogRollupsTable {
  /** Start of the UTC hour, epoch ms. */
  hour: number;
  connectionId: string;
  model: string;
  operation: string;
  /** The provider that answered (the record's `provider`). */
  provider: string;
  endUser: string;
  requests: number;
  errors: number;
  /** Requests with at least one flag. */
  flagged: number;
  moderated: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Sum of the known costs. */
  costUsd: number;
  /** Requests whose cost is unknown (null). */
  unpriced: number;
  latencyMsSum: number;
  lastTs: number;
}

/** One UTC day of one connection × model × operation × provider, summed: long ranges read these. */
export interface LogDayTotalsTable extends Omit<LogRollupsTable, 'hour' | 'endUser'> {
  /** Start of the UTC day, epoch ms. */
  day: number;
}

/** One hour of one model × operation × provider over every connection, summed. */
export type LogHourOverallTable = Omit<LogRollupsTable, 'connectionId' | 'endUser'>;

/** One UTC day of one model × operation × provider over every connection, summed. */
export type LogDayOverallTable = Omit<LogDayTotalsTable, 'connectionId'>;

/** One hour of one connection, summed. */
export type LogHourConnectionsTable = Omit<LogRollupsTable, 'model' | 'operation' | 'provider' | 'endUser'>;

/** One UTC day of one connection, summed. */
export type LogDayConnectionsTable = Omit<LogDayTotalsTable, 'model' | 'operation' | 'provider'>;

/** One hour of one connection × end user ('' = none), summed: the users table's edges and short ranges. */
export type LogUserHoursTable = Omit<LogRollupsTable, 'model' | 'operation' | 'provider'>;

/**
 * Each end user's sums over about the last `spanHours` hours, per connection: from the whole
 * hour nearest to `spanHours` before the windows' end (a whole minute) to that end, both in
 * the setting `user_windows_as_of`. The users table for the dashboard's ranges (24 h, 7 d,
 * 30 d, 90 d ending now) reads one row per user instead of a row per user and day.
 */
export interface LogUserWindowsTable extends Omit<LogUserHoursTable, 'hour'> {
  /** 24, 168, 720 or 2160. */
  spanHours: number;
}

/**
 * An alert's group (store.ts `AlertGroup`) as a row: the share of one hour or day of blocked
 * requests of one flag type or unpriced successes of one model, or a run of upstream
 * errors, of a connection ('' = none).
 */
export interface AlertSums extends Omit<AlertGroup, 'kind' | 'connectionId'> {
  connectionId: string;
}

/** One hour's blocked (kind 'blocked') and unpriced ('unpriced') records of a connection and subject. */
export interface LogAlertHoursTable extends AlertSums {
  hour: number;
  kind: string;
}

/** The same per UTC day: long ranges read these. */
export interface LogAlertDaysTable extends AlertSums {
  day: number;
  kind: string;
}

/** Requests refused before a connection was known, counted per minute, IP, source and status. */
export interface RefusalsTable {
  /** Start of the minute, epoch ms. */
  minute: number;
  ip: string;
  /** `proxy` (a wrong or missing Usage Panda key) or `admin` (a wrong admin token). */
  source: string;
  status: number;
  count: number;
}

/** Dashboard sessions signed out before their expiry; a row goes once that has passed. */
export interface RevokedSessionsTable {
  id: string;
  expiresAt: number;
}

/** Edge gateways' tokens: the hash to recognise one, the token sealed to derive its transport key. */
export interface EdgeTokensTable {
  id: string;
  name: string;
  tokenHash: string;
  tokenPrefix: string;
  tokenEncrypted: string;
  /** string[] as JSON; null means every connection. */
  connections: string | null;
  createdAt: number;
  lastSeenAt: number | null;
}

export interface Database {
  autoreplies: AutoRepliesTable;
  settings: SettingsTable;
  connections: ConnectionsTable;
  logs: LogsTable;
  /** Hourly sums per connection × model × operation × provider (endUser always ''). */
  logHourTotals: LogRollupsTable;
  logDayTotals: LogDayTotalsTable;
  logHourOverall: LogHourOverallTable;
  logDayOverall: LogDayOverallTable;
  logHourConnections: LogHourConnectionsTable;
  logDayConnections: LogDayConnectionsTable;
  logUserHours: LogUserHoursTable;
  logUserWindows: LogUserWindowsTable;
  logAlertHours: LogAlertHoursTable;
  logAlertDays: LogAlertDaysTable;
  /** A connection's upstream errors (5xx), each no more than BURST_GAP_MS after the one before. */
  logErrorRuns: AlertSums;
  refusals: RefusalsTable;
  revokedSessions: RevokedSessionsTable;
  edgeTokens: EdgeTokensTable;
}
