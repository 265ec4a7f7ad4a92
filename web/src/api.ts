// The admin API client: the shapes of docs/admin-api.md as zod schemas, and one fetch
// function that sends the session's CSRF token with writes and turns errors into ApiError.
import { z } from 'zod';
import type { TargetUpdateInput } from '../../src/connections/upstream';
import { type PolicySettings, readStoredPolicy } from '../../src/policy-settings';

// ---- shapes -------------------------------------------------------------------------

// The policy settings and operations are the server's own definitions, so the dashboard
// validates exactly as the API does.
export { OPERATIONS, type Operation, PROVIDERS, type ProviderName } from '../../src/domain';
export {
  DEFAULT_POLICY,
  PolicySchema,
  REFLECTION_MODES as PROMPT_REFLECTION,
  WORDLIST_ACTIONS,
  WORDLIST_NAMES as WORDLISTS,
  type WordlistName as Wordlist,
} from '../../src/policy-settings';
export type { TargetUpdateInput };
export type Policy = PolicySettings;

/** A gateway may know fewer settings than this dashboard: unknown ones show their default. */
const StoredPolicy = z.record(z.string(), z.unknown()).transform(readStoredPolicy);

/** A routing target as the admin API shows it: secrets only as hasApiKey / hasSecretAccessKey. */
export const TargetViewSchema = z.looseObject({
  provider: z.string(),
  baseUrl: z.string().optional(),
  hasApiKey: z.boolean().optional(),
  apiVersion: z.string().optional(),
  deployments: z.record(z.string(), z.string()).optional(),
  region: z.string().optional(),
  accessKeyId: z.string().optional(),
  hasSecretAccessKey: z.boolean().optional(),
  weight: z.number().optional(),
  models: z.array(z.string()).optional(),
  modelMap: z.record(z.string(), z.string()).optional(),
});
export type TargetView = z.infer<typeof TargetViewSchema>;

export const ConnectionSchema = z.object({
  id: z.string(),
  name: z.string(),
  keyPrefix: z.string(),
  enabled: z.boolean(),
  policy: StoredPolicy,
  upstream: z.union([z.string(), z.looseObject({ provider: z.string() })]).nullable(),
  /** Routing targets (issue 14); absent from gateways that predate them. */
  targets: z.array(TargetViewSchema).default([]),
  hasProviderKey: z.boolean(),
  managedBy: z.enum(['api', 'file']),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Connection = z.infer<typeof ConnectionSchema>;
const ConnectionWithKey = ConnectionSchema.extend({ key: z.string() });
export type ConnectionWithKey = z.infer<typeof ConnectionWithKey>;

export const FlagSchema = z.object({ type: z.string(), description: z.string() });
export type Flag = z.infer<typeof FlagSchema>;

export const LogRecordSchema = z.object({
  id: z.string(),
  ts: z.number(),
  timestamp: z.string(),
  connectionId: z.string().nullable(),
  connectionName: z.string().nullable(),
  endpoint: z.string(),
  method: z.string(),
  operation: z.string(),
  model: z.string().nullable(),
  stream: z.boolean(),
  status: z.number(),
  error: z.string().nullable(),
  latencyMs: z.number(),
  upstreamLatencyMs: z.number().nullable(),
  promptTokens: z.number().nullable(),
  completionTokens: z.number().nullable(),
  totalTokens: z.number().nullable(),
  costUsd: z.number().nullable(),
  upstreamId: z.string().nullable(),
  organization: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  endUser: z.string().nullable(),
  traceId: z.string().nullable(),
  flags: z.array(FlagSchema),
  moderated: z.boolean(),
  provider: z.string(),
  requestBody: z.string().nullable(),
  responseBody: z.string().nullable(),
  /** The edge gateway that served the request; null: the central one (absent from older gateways). */
  edge: z.string().nullable().default(null),
});
export type LogRecord = z.infer<typeof LogRecordSchema>;
const LogPageSchema = z.object({ data: z.array(LogRecordSchema), nextCursor: z.string().nullable() });
export type LogPage = z.infer<typeof LogPageSchema>;

const Totals = z.object({
  requests: z.number(),
  costUsd: z.number(),
  tokens: z.number(),
  successRate: z.number().nullable(),
});
export type Totals = z.infer<typeof Totals>;
const SummarySchema = z.object({
  from: z.union([z.string(), z.number()]),
  to: z.union([z.string(), z.number()]),
  current: Totals,
  previous: Totals,
  change: z.object({
    requests: z.number().nullable(),
    costUsd: z.number().nullable(),
    tokens: z.number().nullable(),
    successRate: z.number().nullable(),
  }),
  series: z.array(Totals.extend({ ts: z.number() })),
});
export type Summary = z.infer<typeof SummarySchema>;

const Amount = z.object({ requests: z.number(), costUsd: z.number() });
const TimeseriesSchema = z.object({
  interval: z.enum(['hour', 'day']),
  tz: z.string(),
  keys: z.array(z.string()),
  buckets: z.array(
    z.object({ start: z.string(), ts: z.number(), total: Amount, values: z.record(z.string(), Amount) }),
  ),
});
export type Timeseries = z.infer<typeof TimeseriesSchema>;

const ModelStatsSchema = z.object({
  data: z.array(
    z.object({
      model: z.string().nullable(),
      requests: z.number(),
      promptTokens: z.number(),
      completionTokens: z.number(),
      totalTokens: z.number(),
      costUsd: z.number(),
    }),
  ),
});
export type ModelStats = z.infer<typeof ModelStatsSchema>['data'][number];

const ProviderStatsSchema = z.object({
  data: z.array(
    z.object({
      provider: z.string(),
      requests: z.number(),
      errors: z.number(),
      promptTokens: z.number(),
      completionTokens: z.number(),
      totalTokens: z.number(),
      costUsd: z.number(),
      unpriced: z.number(),
    }),
  ),
});
export type ProviderStats = z.infer<typeof ProviderStatsSchema>['data'][number];

const UserStatsSchema = z.object({
  data: z.array(
    z.object({
      user: z.string(),
      connectionId: z.string().nullable(),
      connectionName: z.string().nullable(),
      requests: z.number(),
      costUsd: z.number(),
      avgLatencyMs: z.number().nullable(),
      errors: z.number(),
      flags: z.number(),
      moderations: z.number(),
      lastSeen: z.union([z.string(), z.number()]),
    }),
  ),
});
export type UserStats = z.infer<typeof UserStatsSchema>['data'][number];
export const USER_SORTS = ['cost', 'requests', 'errors', 'flags', 'moderations'] as const;
export type UserSort = (typeof USER_SORTS)[number];

export const AutoReplySchema = z.object({
  id: z.string(),
  type: z.enum(['chat', 'completion']),
  request: z.string(),
  response: z.string(),
  connections: z.array(z.string()),
  managedBy: z.enum(['api', 'file']),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type AutoReply = z.infer<typeof AutoReplySchema>;
export const AutoReplyInputSchema = z.object({
  type: z.enum(['chat', 'completion']),
  request: z.string().min(1, 'the request text cannot be empty'),
  response: z.string().min(1, 'the response text cannot be empty'),
  connections: z.array(z.string()),
});
export type AutoReplyInput = z.infer<typeof AutoReplyInputSchema>;

const AlertSchema = z.object({
  kind: z.string(),
  title: z.string(),
  detail: z.string(),
  count: z.number(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  connectionId: z.string().nullable(),
});
export type Alert = z.infer<typeof AlertSchema>;

const SessionSchema = z.object({ authenticated: z.literal(true), csrfToken: z.string() });

// ---- transport ----------------------------------------------------------------------

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const ErrorBody = z.object({ error: z.object({ message: z.string() }) });

/** Held in memory only: a page on another origin can neither read it nor guess it. */
let csrfToken: string | null = null;
export const EdgeTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  tokenPrefix: z.string(),
  connections: z.array(z.string()).nullable(),
  createdAt: z.string(),
  lastSeenAt: z.string().nullable(),
});
export type EdgeToken = z.infer<typeof EdgeTokenSchema>;
const EdgeTokenWithToken = EdgeTokenSchema.extend({ token: z.string() });
export type EdgeTokenWithToken = z.infer<typeof EdgeTokenWithToken>;

/** Called when the session is gone (expired, signed out elsewhere, token reset). */
let onSignedOut: () => void = () => {};
export const setSignedOutHandler = (handler: () => void) => {
  onSignedOut = handler;
};

async function request<T>(schema: z.ZodType<T> | null, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-usagepanda-csrf'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const parsed = ErrorBody.safeParse(await response.json().catch(() => null));
    const message = parsed.success ? parsed.data.error.message : `${response.status} ${response.statusText}`;
    if (response.status === 401 && path !== '/api/session') onSignedOut();
    throw new ApiError(response.status, message);
  }
  if (schema === null || response.status === 204) return undefined as T;
  return schema.parse(await response.json());
}

/** Query parameters without the empty ones. */
export type Query = Record<string, string | number | boolean | undefined | null>;
export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

// ---- endpoints ----------------------------------------------------------------------

export const session = {
  async check(): Promise<boolean> {
    try {
      csrfToken = (await request(SessionSchema, 'GET', '/api/session')).csrfToken;
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return false;
      throw err;
    }
  },
  async signIn(token: string): Promise<void> {
    csrfToken = (await request(SessionSchema, 'POST', '/api/session', { token })).csrfToken;
  },
  async signOut(): Promise<void> {
    await request(null, 'DELETE', '/api/session');
    csrfToken = null;
  },
};

export const connections = {
  list: async () => (await request(z.object({ data: z.array(ConnectionSchema) }), 'GET', '/api/connections')).data,
  create: (body: { name: string; policy?: Partial<Policy> }) =>
    request(ConnectionWithKey, 'POST', '/api/connections', body),
  update: (
    id: string,
    body: { enabled?: boolean; name?: string; policy?: Partial<Policy>; targets?: TargetUpdateInput[] },
  ) => request(ConnectionSchema, 'PATCH', `/api/connections/${encodeURIComponent(id)}`, body),
  rotate: (id: string) => request(ConnectionWithKey, 'POST', `/api/connections/${encodeURIComponent(id)}/rotate`),
  remove: (id: string) => request(null, 'DELETE', `/api/connections/${encodeURIComponent(id)}`),
};

/** Where a limit or budget stands in its current window (GET /api/budgets). */
export const SpendStatusSchema = z.object({
  kind: z.enum(['limit', 'budget']),
  unit: z.enum(['requests', 'tokens', 'usd']),
  per: z.enum(['connection', 'user', 'ip']),
  subject: z.string().nullable(),
  window: z.string(),
  windowStart: z.string(),
  windowEnd: z.string().nullable(),
  limit: z.number(),
  used: z.number(),
  reserved: z.number(),
  remaining: z.number(),
  description: z.string(),
});
export type SpendStatus = z.infer<typeof SpendStatusSchema>;

/** How many end users one GET /api/budgets?users= may name. */
export const BUDGET_USERS_PER_REQUEST = 100;

export const budgets = {
  status: async (connection: string, user?: string) =>
    (
      await request(
        z.object({ data: z.array(SpendStatusSchema) }),
        'GET',
        `/api/budgets?connection=${encodeURIComponent(connection)}${user ? `&user=${encodeURIComponent(user)}` : ''}`,
      )
    ).data,
  /** The per-user limits and budgets of many end users (at most BUDGET_USERS_PER_REQUEST). */
  users: async (connection: string, users: readonly string[]) =>
    (
      await request(
        z.object({ data: z.array(SpendStatusSchema) }),
        'GET',
        `/api/budgets?connection=${encodeURIComponent(connection)}${users.map((u) => `&users=${encodeURIComponent(u)}`).join('')}`,
      )
    ).data,
};

export const logs = {
  list: (query: Query) => request(LogPageSchema, 'GET', `/api/logs${queryString(query)}`),
  get: (id: string) => request(LogRecordSchema, 'GET', `/api/logs/${encodeURIComponent(id)}`),
  exportUrl: (query: Query) => `/api/logs/export.csv${queryString(query)}`,
};

export const stats = {
  summary: (query: Query) => request(SummarySchema, 'GET', `/api/stats/summary${queryString(query)}`),
  timeseries: (query: Query) => request(TimeseriesSchema, 'GET', `/api/stats/timeseries${queryString(query)}`),
  models: async (query: Query) =>
    (await request(ModelStatsSchema, 'GET', `/api/stats/models${queryString(query)}`)).data,
  providers: async (query: Query) =>
    (await request(ProviderStatsSchema, 'GET', `/api/stats/providers${queryString(query)}`)).data,
  users: async (query: Query) => (await request(UserStatsSchema, 'GET', `/api/stats/users${queryString(query)}`)).data,
};

export const autoReplies = {
  list: async () => (await request(z.object({ data: z.array(AutoReplySchema) }), 'GET', '/api/autoreplies')).data,
  create: (body: AutoReplyInput) => request(AutoReplySchema, 'POST', '/api/autoreplies', body),
  update: (id: string, body: Partial<AutoReplyInput>) =>
    request(AutoReplySchema, 'PATCH', `/api/autoreplies/${encodeURIComponent(id)}`, body),
  remove: (id: string) => request(null, 'DELETE', `/api/autoreplies/${encodeURIComponent(id)}`),
};

export const alerts = {
  list: async (query: Query) =>
    (await request(z.object({ data: z.array(AlertSchema) }), 'GET', `/api/alerts${queryString(query)}`)).data,
};

export const edgeTokens = {
  list: async () => (await request(z.object({ data: z.array(EdgeTokenSchema) }), 'GET', '/api/edge-tokens')).data,
  create: (body: { name: string; connections?: string[] }) =>
    request(EdgeTokenWithToken, 'POST', '/api/edge-tokens', body),
  revoke: (id: string) => request(null, 'DELETE', `/api/edge-tokens/${encodeURIComponent(id)}`),
};
