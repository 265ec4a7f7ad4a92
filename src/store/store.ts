// The storage interface, in the product's words. SQLite and PostgreSQL implement it
// through one Kysely query layer and differ only where SQL must.
import type {
  AutoReply,
  Connection,
  EdgeToken,
  LogRecord,
  Operation,
  ProviderUpstream,
  UpstreamTarget,
} from '../domain.js';
import type { PolicySettings } from '../policy-settings.js';
import type { AggregateQuery, AggregateRow } from './rollups.js';

/** A connection before the store gives it an id and times; the key only as its hash. */
export type NewConnection = Omit<Connection, 'id' | 'createdAt' | 'updatedAt' | 'targets'> & {
  keyHash: string;
  targets?: UpstreamTarget[];
};

export interface ConnectionPatch {
  name?: string;
  enabled?: boolean;
  policy?: PolicySettings;
  upstream?: string | ProviderUpstream | null;
  targets?: UpstreamTarget[];
  providerKeyEncrypted?: string | null;
  keyHash?: string;
  keyPrefix?: string;
  managedBy?: 'api' | 'file';
}

export type NewEdgeToken = Pick<EdgeToken, 'name' | 'tokenPrefix' | 'connections'> & {
  tokenHash: string;
  tokenEncrypted: string;
};

export type NewAutoReply = Omit<AutoReply, 'id' | 'createdAt' | 'updatedAt'>;
export type AutoReplyPatch = Partial<Omit<NewAutoReply, 'managedBy'>>;

export interface LogFilter {
  connectionId?: string;
  endUser?: string;
  model?: string;
  operation?: Operation;
  /** Records of requests that went to this provider. */
  provider?: string;
  /** Records carrying a flag of this type. */
  flagType?: string;
  /** true: only records with an error (status >= 400); false: only successes. */
  error?: boolean;
  /** Only records without a price (cost unknown). */
  unpriced?: true;
  traceId?: string;
  /** Inclusive lower bound, epoch ms. */
  from?: number;
  /** Exclusive upper bound, epoch ms. */
  to?: number;
}

export interface LogPage {
  records: LogRecord[];
  /** Opaque; pass back as `cursor` for the next (older) page. Null on the last page. */
  nextCursor: string | null;
}

/**
 * Records grouped as an alert reports them: requests blocked by a policy (per flag type),
 * successes without a known price (per model), or a burst of upstream errors; per connection.
 */
export interface AlertGroup {
  kind: 'blocked' | 'unpriced' | 'burst';
  connectionId: string | null;
  /** The flag type (blocked), the model (unpriced), or the statuses seen, as "500, 502" (burst). */
  subject: string;
  count: number;
  firstTs: number;
  lastTs: number;
  /** The latest record's. */
  connectionName: string | null;
  /** The latest record's flag description (blocked) or error (burst); null for unpriced. */
  detail: string | null;
}

/** What alerts read of a record. */
export type AlertRecord = Pick<
  LogRecord,
  'id' | 'ts' | 'connectionId' | 'connectionName' | 'model' | 'status' | 'error' | 'flags' | 'costUsd' | 'totalTokens'
>;

export interface LogPageQuery {
  limit: number;
  /** A page's `nextCursor`: the records after (older than) that page. */
  cursor?: string;
  /** A record id: only records newer than it, for a live view that asks for what is new. */
  since?: string;
  /** false: the records come without request and response bodies (null), as the CSV export needs them. */
  bodies?: boolean;
}

/** Refused requests of one minute, IP, source and status. */
export interface RefusalCount {
  /** Start of the minute, epoch ms. */
  minute: number;
  ip: string;
  source: 'proxy' | 'admin';
  status: number;
  count: number;
}

export interface RefusalFilter {
  ip?: string;
  source?: 'proxy' | 'admin';
  /** Inclusive lower bound, epoch ms. */
  from?: number;
  /** Exclusive upper bound, epoch ms. */
  to?: number;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Runs pending migrations; called once at start. On PostgreSQL, replicas starting
   * together take turns (Kysely's migrator holds an advisory lock), so each runs once.
   */
  migrate(): Promise<void>;
  /**
   * Runs `task` unless another replica is running the task of this name: on PostgreSQL a
   * session advisory lock per schema and name, and a replica that finds it taken skips
   * (null). A SQLite store belongs to one process: the task just runs.
   */
  exclusive<T>(name: string, task: () => Promise<T>): Promise<T | null>;
  close(): Promise<void>;

  getSetting(key: string): Promise<string | undefined>;
  /** Puts a dashboard session on the revocation list until it would have expired anyway. */
  revokeSession(id: string, expiresAt: number): Promise<void>;
  isSessionRevoked(id: string): Promise<boolean>;
  setSetting(key: string, value: string): Promise<void>;

  insertConnection(connection: NewConnection): Promise<Connection>;
  updateConnection(id: string, patch: ConnectionPatch): Promise<Connection | undefined>;
  findConnectionById(id: string): Promise<Connection | undefined>;
  findConnectionByName(name: string): Promise<Connection | undefined>;
  findConnectionByKeyHash(keyHash: string): Promise<Connection | undefined>;
  listConnections(): Promise<Connection[]>;
  /** Soft delete: the key stops working, old log records keep their connection. */
  deleteConnection(id: string): Promise<boolean>;

  /** Every live connection with its key's hash: what an edge gateway needs to recognise keys. */
  listConnectionsWithKeyHash(): Promise<(Connection & { keyHash: string })[]>;

  insertEdgeToken(token: NewEdgeToken): Promise<EdgeToken>;
  listEdgeTokens(): Promise<EdgeToken[]>;
  findEdgeTokenByName(name: string): Promise<EdgeToken | undefined>;
  /** The token by its hash, with the token sealed (to derive its transport key). */
  findEdgeTokenByHash(tokenHash: string): Promise<(EdgeToken & { tokenEncrypted: string }) | undefined>;
  /** Revokes the token: it stops working at once. */
  deleteEdgeToken(id: string): Promise<boolean>;
  touchEdgeToken(id: string, at: number): Promise<void>;

  insertAutoReply(reply: NewAutoReply): Promise<AutoReply>;
  updateAutoReply(id: string, patch: AutoReplyPatch): Promise<AutoReply | undefined>;
  findAutoReply(id: string): Promise<AutoReply | undefined>;
  listAutoReplies(): Promise<AutoReply[]>;
  deleteAutoReply(id: string): Promise<boolean>;

  /** Writes records and adds them to the hourly rollups, in one transaction. */
  insertLogs(batch: readonly LogRecord[]): Promise<void>;
  /** Sums per bucket and group, from the rollups wherever whole hours allow. */
  aggregateLogs(query: AggregateQuery): Promise<AggregateRow[]>;
  /**
   * Slides the end users' windows (the users table for the dashboard's ranges) to `now`'s
   * minute; null when they end there already. Run by the log worker, on one replica at a time.
   */
  rollUserWindows(now: number): Promise<{ asOf: number; rebuilt: boolean } | null>;
  /** Deletes records (and refusal counts) older than `before` (epoch ms), rollups untouched; returns how many records. */
  deleteLogsBefore(before: number): Promise<number>;
  /** Clears request and response bodies of records older than `before`; returns how many. */
  clearBodiesBefore(before: number): Promise<number>;
  /** Every connection's name by id, deleted ones included. */
  connectionNames(): Promise<Map<string, string>>;
  findLog(id: string): Promise<LogRecord | undefined>;
  /** Adds counts to the refusal rows of their minute, IP, source and status. */
  addRefusals(counts: readonly RefusalCount[]): Promise<void>;
  /** Newest minute first, then most refused. */
  queryRefusals(filter: RefusalFilter, limit: number): Promise<RefusalCount[]>;
  /** Newest first; `since`: only records newer than this record id (ids are time-ordered). */
  queryLogs(filter: LogFilter, page: LogPageQuery): Promise<LogPage>;
  /** The alert groups of [from, to), of one connection or every one. */
  queryAlerts(query: { connectionId?: string; from: number; to: number }): Promise<AlertGroup[]>;
}
