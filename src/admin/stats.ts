// /api/stats/*: summary with period-over-period change, time series, models, providers and end users.
// Everything is summed by the store from hourly rollups (raw records only for partial
// hours), and bucketed in the time zone the caller names.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DAY_MS, HOUR_MS } from '../domain.js';
import { badRequest } from '../errors.js';
import { isTimeZone } from '../policy-settings.js';
import {
  type AggregateRow,
  addTotals,
  type GroupKey,
  type Totals,
  topOrder,
  type UserSort,
  zeroTotals,
} from '../store/rollups.js';
import type { Store } from '../store/store.js';
import { bucketStarts } from '../time-zones.js';
import { Instant } from './logs.js';

/** Ranges up to this long get hourly sparklines in the summary; longer ones daily. */
const HOURLY_SERIES_MAX_MS = 48 * HOUR_MS;
const MAX_BUCKETS = 2_000;

const RangeQuery = {
  connection: z.string().min(1).optional(),
  from: Instant.optional(),
  to: Instant.optional(),
  tz: z
    .string()
    .refine(isTimeZone, { message: 'unknown time zone (expected an IANA name such as Europe/Berlin)' })
    .default('UTC'),
};

const SummaryQuerySchema = z.object(RangeQuery).strict();
const TimeseriesQuerySchema = z
  .object({
    ...RangeQuery,
    interval: z.enum(['hour', 'day']).optional(),
    split: z.enum(['operation', 'model', 'connection', 'provider']).optional(),
  })
  .strict();
const UsersQuerySchema = z
  .object({
    ...RangeQuery,
    sort: z.enum(['cost', 'requests', 'errors', 'flags', 'moderations']).default('cost'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    user: z.string().min(1).optional(),
  })
  .strict();

export interface Range {
  connectionId?: string;
  from: number;
  to: number;
  tz: string;
}

export function rangeOf(query: { connection?: string; from?: number; to?: number; tz: string }): Range {
  const to = query.to ?? Date.now();
  const from = query.from ?? to - DAY_MS;
  if (from >= to) throw badRequest('from: must be before to');
  return { connectionId: query.connection, from, to, tz: query.tz };
}

/** Bucket starts aligned to the zone, and the boundaries clipped to the range. */
function bucketsOf(range: Range, interval: 'hour' | 'day') {
  // A local day is at least 23 hours long; refuse before walking an absurd range.
  const shortest = interval === 'hour' ? 3_600_000 : 23 * 3_600_000;
  const estimate = Math.ceil((range.to - range.from) / shortest);
  if (estimate > MAX_BUCKETS + 2) throw tooManyBuckets(estimate, interval);
  const starts = bucketStarts(range.from, range.to, interval, range.tz);
  if (starts.length > MAX_BUCKETS) throw tooManyBuckets(starts.length, interval);
  return { starts, boundaries: [range.from, ...starts.slice(1), range.to] };
}

const tooManyBuckets = (count: number, interval: string) =>
  badRequest(`interval: about ${count} ${interval} buckets are too many (at most ${MAX_BUCKETS}); narrow the range`);

interface PublicTotals {
  requests: number;
  costUsd: number;
  tokens: number;
  successRate: number | null;
}

const publicTotals = (t: Totals): PublicTotals => ({
  requests: t.requests,
  costUsd: t.costUsd,
  tokens: t.totalTokens,
  successRate: t.requests === 0 ? null : (t.requests - t.errors) / t.requests,
});

const relativeChange = (current: number, previous: number) => (previous === 0 ? null : (current - previous) / previous);

function sumRows(rows: readonly AggregateRow[]): Totals {
  const total = zeroTotals();
  for (const row of rows) addTotals(total, row);
  return total;
}

const SPLIT_KEY: Record<'operation' | 'model' | 'connection' | 'provider', GroupKey> = {
  operation: 'operation',
  model: 'model',
  connection: 'connectionId',
  provider: 'provider',
};
const USER_SORT: Record<z.infer<typeof UsersQuerySchema>['sort'], UserSort> = {
  cost: 'costUsd',
  requests: 'requests',
  errors: 'errors',
  flags: 'flagged',
  moderations: 'moderated',
};

/** The key name of records without a model or connection. */
const NONE = '(none)';

/** Totals of the range and of the period of equal length before it, with hourly or daily series. */
export async function statsSummary(store: Store, range: Range) {
  const length = range.to - range.from;
  const interval = length <= HOURLY_SERIES_MAX_MS ? 'hour' : 'day';
  const { starts, boundaries } = bucketsOf(range, interval);
  const [rows, previousRows] = await Promise.all([
    store.aggregateLogs({ connectionId: range.connectionId, boundaries, groupBy: [] }),
    store.aggregateLogs({
      connectionId: range.connectionId,
      boundaries: [range.from - length, range.from],
      groupBy: [],
    }),
  ]);
  const current = publicTotals(sumRows(rows));
  const previous = publicTotals(sumRows(previousRows));
  const byBucket = new Map(rows.map((row) => [row.bucket, row]));
  return {
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    current,
    previous,
    change: {
      requests: relativeChange(current.requests, previous.requests),
      costUsd: relativeChange(current.costUsd, previous.costUsd),
      tokens: relativeChange(current.tokens, previous.tokens),
      successRate:
        current.successRate === null || previous.successRate === null
          ? null
          : current.successRate - previous.successRate,
    },
    series: starts.map((ts, i) => ({ ts, ...publicTotals(byBucket.get(i) ?? zeroTotals()) })),
  };
}

/** Requests, tokens and cost per model in the range, most requested first. */
export async function statsModels(store: Store, range: Range) {
  const rows = await store.aggregateLogs({
    connectionId: range.connectionId,
    boundaries: [range.from, range.to],
    groupBy: ['model'],
  });
  return rows
    .map((row) => ({
      model: row.keys.model ?? null,
      requests: row.requests,
      promptTokens: row.promptTokens,
      completionTokens: row.completionTokens,
      totalTokens: row.totalTokens,
      costUsd: row.costUsd,
    }))
    .sort((a, b) => b.requests - a.requests || (a.model ?? '').localeCompare(b.model ?? ''));
}

/** Requests, tokens and cost per provider that answered in the range, most requested first. */
export async function statsProviders(store: Store, range: Range) {
  const rows = await store.aggregateLogs({
    connectionId: range.connectionId,
    boundaries: [range.from, range.to],
    groupBy: ['provider'],
  });
  return rows
    .map((row) => ({
      provider: row.keys.provider ?? NONE,
      requests: row.requests,
      errors: row.errors,
      promptTokens: row.promptTokens,
      completionTokens: row.completionTokens,
      totalTokens: row.totalTokens,
      costUsd: row.costUsd,
      unpriced: row.unpriced,
    }))
    .sort((a, b) => b.requests - a.requests || a.provider.localeCompare(b.provider));
}

export async function statsRoutes(app: FastifyInstance, store: Store): Promise<void> {
  app.get('/stats/summary', async (request) => statsSummary(store, rangeOf(SummaryQuerySchema.parse(request.query))));

  app.get('/stats/timeseries', async (request) => {
    const query = TimeseriesQuerySchema.parse(request.query);
    const range = rangeOf(query);
    const interval = query.interval ?? (range.to - range.from <= HOURLY_SERIES_MAX_MS ? 'hour' : 'day');
    const { starts, boundaries } = bucketsOf(range, interval);
    const split = query.split ? SPLIT_KEY[query.split] : undefined;
    const rows = await store.aggregateLogs({
      connectionId: range.connectionId,
      boundaries,
      groupBy: split ? [split] : [],
    });
    const keyOf = (row: AggregateRow) => (split ? (row.keys[split] ?? NONE) : null);
    const keyRequests = new Map<string, number>();
    for (const row of rows) {
      const key = keyOf(row);
      if (key !== null) keyRequests.set(key, (keyRequests.get(key) ?? 0) + row.requests);
    }
    const keys = [...keyRequests.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
    const buckets = starts.map((ts) => ({
      start: new Date(ts).toISOString(),
      ts,
      total: { requests: 0, costUsd: 0 },
      values: {} as Record<string, { requests: number; costUsd: number }>,
    }));
    for (const row of rows) {
      const bucket = buckets[row.bucket];
      if (!bucket) continue;
      bucket.total.requests += row.requests;
      bucket.total.costUsd += row.costUsd;
      const key = keyOf(row);
      if (key === null) continue;
      const value = bucket.values[key] ?? { requests: 0, costUsd: 0 };
      value.requests += row.requests;
      value.costUsd += row.costUsd;
      bucket.values[key] = value;
    }
    return { interval, tz: range.tz, keys, buckets };
  });

  app.get('/stats/models', async (request) => ({
    data: await statsModels(store, rangeOf(SummaryQuerySchema.parse(request.query))),
  }));

  app.get('/stats/providers', async (request) => ({
    data: await statsProviders(store, rangeOf(SummaryQuerySchema.parse(request.query))),
  }));

  app.get('/stats/users', async (request) => {
    const query = UsersQuerySchema.parse(request.query);
    const range = rangeOf(query);
    const by = USER_SORT[query.sort];
    const [rows, names] = await Promise.all([
      store.aggregateLogs({
        connectionId: range.connectionId,
        endUser: query.user,
        withEndUser: true,
        boundaries: [range.from, range.to],
        groupBy: ['endUser', 'connectionId'],
        top: { by, limit: query.limit },
      }),
      store.connectionNames(),
    ]);
    // The order the store's `top` promises.
    const data = rows
      .sort(topOrder(by, (row) => row.keys))
      .slice(0, query.limit)
      .map((row) => ({
        user: row.keys.endUser ?? '',
        connectionId: row.keys.connectionId ?? null,
        connectionName: row.keys.connectionId ? (names.get(row.keys.connectionId) ?? null) : null,
        requests: row.requests,
        costUsd: row.costUsd,
        avgLatencyMs: row.requests === 0 ? null : row.latencyMsSum / row.requests,
        errors: row.errors,
        flags: row.flagged,
        moderations: row.moderated,
        lastSeen: new Date(row.lastTs).toISOString(),
      }));
    return { data };
  });
}
