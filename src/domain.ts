// The product's nouns, shared by the proxy, the store and the admin API.
import type { PolicySettings } from './policy-settings.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export const OPERATIONS = [
  'completion',
  'chat',
  'embedding',
  'edit',
  'image',
  'audio',
  'moderation',
  'response',
  'other',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/** A flag raised by a policy: a stable type and a human description. */
export interface Flag {
  type: string;
  description: string;
}

/** A Usage Panda API key and the policy that comes with it. */
export interface Connection {
  id: string;
  name: string;
  /** The first characters of the key, enough to recognise it in a list. */
  keyPrefix: string;
  enabled: boolean;
  policy: PolicySettings;
  /**
   * Upstream base URL including its version path (OpenAI-compatible), or a provider's
   * upstream; null means the gateway's default.
   */
  upstream: string | ProviderUpstream | null;
  /** Ordered upstreams to route among; when non-empty they take the place of `upstream`. */
  targets: UpstreamTarget[];
  /** The provider key, encrypted with the gateway secret; never sent to a client. */
  providerKeyEncrypted: string | null;
  managedBy: 'api' | 'file';
  createdAt: number;
  updatedAt: number;
}

export const PROVIDERS = ['openai', 'azure', 'anthropic', 'gemini', 'bedrock'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** A provider's upstream as stored: its secrets encrypted with the gateway secret. */
export interface ProviderUpstream {
  provider: ProviderName;
  /** The provider's API origin (and version path for OpenAI-compatible ones); the provider's own by default. */
  baseUrl?: string;
  apiKeyEncrypted?: string;
  /** Azure: the `api-version` query parameter. */
  apiVersion?: string;
  /** Azure: model → deployment name. */
  deployments?: Record<string, string>;
  /** Bedrock: the AWS region. */
  region?: string;
  accessKeyId?: string;
  secretAccessKeyEncrypted?: string;
}

/** One of a connection's routing targets. */
export interface UpstreamTarget extends ProviderUpstream {
  /** Relative share of requests among the targets serving a model; equal when absent. */
  weight?: number;
  /** The request models it serves, exact or `prefix*`; every model when absent. */
  models?: string[];
  /** Request model → the provider's model. */
  modelMap?: Record<string, string>;
}

/** The connection name recorded for keyless requests of a standalone gateway (their connection id is null). */
export const STANDALONE_CONNECTION_NAME = 'default';

/** A prompt answered by the gateway itself, without calling upstream. */
export interface AutoReply {
  id: string;
  type: 'chat' | 'completion';
  /** The exact prompt (last user message for chat) that is answered. */
  request: string;
  response: string;
  /** Connection ids; empty means every connection. */
  connections: string[];
  managedBy: 'api' | 'file';
  createdAt: number;
  updatedAt: number;
}

/** One try at calling upstream: its status (null when no answer came) or network error. */
export interface UpstreamAttempt {
  /** The provider called (absent in records written before routing). */
  provider?: string;
  /** The index of the connection's target called; absent when the connection has no targets. */
  target?: number;
  status: number | null;
  error: string | null;
  latencyMs: number;
}

/**
 * What each priced part of a request cost, USD, at the rates it was billed at (batch and
 * service-tier prices applied); the parts sum to the record's costUsd.
 */
export interface CostBreakdown {
  /** Input tokens neither read from nor written to the provider's cache. */
  input: number;
  /** Input tokens read from the cache. */
  cachedInput: number;
  /** Input tokens written to the cache for 5 minutes (Anthropic's default). */
  cacheWrite: number;
  /** Input tokens written to the cache for an hour. */
  cacheWrite1h: number;
  /** Output tokens, reasoning included. */
  output: number;
  /** Server-side web searches, billed per request. */
  webSearch: number;
}

/** One request through the proxy, as stored. Times are epoch milliseconds. */
export interface LogRecord {
  id: string;
  ts: number;
  connectionId: string | null;
  connectionName: string | null;
  endpoint: string;
  method: string;
  operation: Operation;
  model: string | null;
  stream: boolean;
  status: number;
  error: string | null;
  latencyMs: number;
  upstreamLatencyMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  /** Prompt tokens read from the provider's cache (part of promptTokens). */
  cachedTokens: number | null;
  /** Reasoning tokens (part of completionTokens). */
  reasoningTokens: number | null;
  /**
   * Prompt tokens written to the provider's cache (part of promptTokens), and of those the
   * ones kept for an hour. Absent (like the fields below) in records made before they existed.
   */
  cacheWriteTokens?: number | null;
  cacheWrite1hTokens?: number | null;
  /** Server-side web searches the provider ran. */
  webSearchRequests?: number | null;
  /** The service tier the provider says served the request (`default`, `flex`, `priority`, `standard`, `batch`). */
  serviceTier?: string | null;
  /** costUsd by part; null when the request was not priced by tokens (images, audio, unknown, free). */
  costBreakdown?: CostBreakdown | null;
  /** True when the gateway counted the tokens because upstream reported no usage. */
  usageEstimated: boolean;
  /** USD; null when the model's price is unknown. Blocked and auto-replied requests cost 0. */
  costUsd: number | null;
  upstreamId: string | null;
  organization: string | null;
  ip: string | null;
  userAgent: string | null;
  endUser: string | null;
  traceId: string | null;
  flags: Flag[];
  moderated: boolean;
  provider: string;
  requestBody: string | null;
  responseBody: string | null;
  /** Every call to upstream, retries included; empty when upstream was not called. */
  attempts: UpstreamAttempt[];
  /** The edge gateway that served the request (its token's name); null or absent: this gateway. */
  edge?: string | null;
}

/** A token an edge gateway syncs its connections with and ships its records under. */
export interface EdgeToken {
  id: string;
  /** Unique; recorded on every record the edge ships. */
  name: string;
  /** The first characters of the token, enough to recognise it in a list. */
  tokenPrefix: string;
  /** Connection ids the edge may serve; null means every connection. */
  connections: string[] | null;
  createdAt: number;
  /** When the edge last synced or shipped records; null before its first time. */
  lastSeenAt: number | null;
}

/**
 * The start of every record id made at `ts` (epoch ms, base 36, fixed width): ids sort as
 * their times do, so a time range is also a range of ids.
 */
export const requestIdPrefix = (ts: number): string =>
  `req_${Math.max(0, Math.trunc(ts)).toString(36).padStart(9, '0')}`;

/** The time a record id begins with: what `requestIdPrefix` wrote. */
export const requestIdTime = (id: string): number => Number.parseInt(id.slice(4, 13), 36);
