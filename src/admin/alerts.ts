// /api/alerts: what needs attention in a time range, computed from the request log —
// requests blocked by a policy (by flag type), bursts of upstream errors, and models
// answered without a known price. Delivery (mail, webhooks) comes later.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DAY_MS } from '../domain.js';
import type { AlertRecord, LogFilter, Store } from '../store/store.js';
import { Instant } from './logs.js';

export type AlertKind = 'blocked_requests' | 'upstream_errors' | 'unknown_price';

export interface Alert {
  kind: AlertKind;
  title: string;
  detail: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  connectionId: string | null;
}

const AlertQuerySchema = z
  .object({ connection: z.string().min(1), from: Instant, to: Instant, tz: z.string().min(1) })
  .partial()
  .strict();

/** Upstream errors closer together than this belong to one burst. */
export const BURST_GAP_MS = 5 * 60 * 1000;
/** How many upstream errors make a burst worth an alert. */
export const BURST_MIN_ERRORS = 3;
/** Alerts read at most this many records of each kind in a range (newest first), so one call stays bounded. */
const SCAN_LIMIT = 50_000;

export async function alertRoutes(app: FastifyInstance, store: Store): Promise<void> {
  app.get('/alerts', async (request) => {
    const query = AlertQuerySchema.parse(request.query);
    const to = query.to ?? Date.now();
    const from = query.from ?? to - DAY_MS;
    const records = await readRange(store, { connectionId: query.connection, from, to });
    return { data: computeAlerts(records) };
  });
}

/**
 * The records alerts are made of — errors (blocked requests, upstream errors) and records
 * without a price — each read from its own index, only the fields alerts use, not every
 * record of the range.
 */
async function readRange(store: Store, filter: LogFilter): Promise<AlertRecord[]> {
  const byId = new Map<string, AlertRecord>();
  for (const only of [{ error: true }, { unpriced: true }] as const)
    for (const record of await store.queryAlertRecords({ ...filter, ...only }, SCAN_LIMIT)) byId.set(record.id, record);
  return [...byId.values()];
}

/** Groups records into alerts, most recent first. Records may come in any order. */
export function computeAlerts(records: readonly AlertRecord[]): Alert[] {
  const sorted = [...records].sort((a, b) => a.ts - b.ts);
  const alerts = [...blockedRequests(sorted), ...upstreamErrorBursts(sorted), ...unknownPrices(sorted)];
  return alerts.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
}

interface Group {
  first: AlertRecord;
  last: AlertRecord;
  count: number;
}

function groupBy(records: readonly AlertRecord[], keyOf: (record: AlertRecord) => string[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const record of records) {
    for (const key of keyOf(record)) {
      const group = groups.get(key);
      if (group) {
        group.last = record;
        group.count += 1;
      } else groups.set(key, { first: record, last: record, count: 1 });
    }
  }
  return groups;
}

const iso = (ts: number) => new Date(ts).toISOString();
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function blockedRequests(records: readonly AlertRecord[]): Alert[] {
  const blocked = records.filter((r) => r.status >= 400 && r.flags.length > 0);
  const groups = groupBy(blocked, (r) => [...new Set(r.flags.map((f) => JSON.stringify([f.type, r.connectionId])))]);
  return [...groups].map(([key, group]) => {
    const [type, connectionId] = JSON.parse(key) as [string, string | null];
    const description = group.last.flags.find((f) => f.type === type)?.description ?? type;
    return {
      kind: 'blocked_requests',
      title: `${plural(group.count, 'request')} blocked: ${type}`,
      detail: `${description} (connection ${group.last.connectionName ?? connectionId ?? 'none'})`,
      count: group.count,
      firstSeen: iso(group.first.ts),
      lastSeen: iso(group.last.ts),
      connectionId,
    };
  });
}

function upstreamErrorBursts(records: readonly AlertRecord[]): Alert[] {
  const byConnection = new Map<string | null, AlertRecord[]>();
  for (const record of records) {
    if (record.status < 500) continue;
    const list = byConnection.get(record.connectionId) ?? [];
    list.push(record);
    byConnection.set(record.connectionId, list);
  }
  const alerts: Alert[] = [];
  for (const [connectionId, errors] of byConnection) {
    let burst: AlertRecord[] = [];
    const close = () => {
      const first = burst[0];
      const last = burst.at(-1);
      if (first && last && burst.length >= BURST_MIN_ERRORS) {
        const statuses = [...new Set(burst.map((r) => r.status))].sort().join(', ');
        alerts.push({
          kind: 'upstream_errors',
          title: `${plural(burst.length, 'upstream error')} in a burst`,
          detail: `Statuses ${statuses} on connection ${last.connectionName ?? connectionId ?? 'none'}; last error: ${last.error ?? 'none recorded'}`,
          count: burst.length,
          firstSeen: iso(first.ts),
          lastSeen: iso(last.ts),
          connectionId,
        });
      }
      burst = [];
    };
    for (const error of errors) {
      const previous = burst.at(-1);
      if (previous && error.ts - previous.ts > BURST_GAP_MS) close();
      burst.push(error);
    }
    close();
  }
  return alerts;
}

function unknownPrices(records: readonly AlertRecord[]): Alert[] {
  const unpriced = records.filter(
    (r) => r.status < 400 && r.model !== null && r.costUsd === null && (r.totalTokens ?? 0) > 0,
  );
  const groups = groupBy(unpriced, (r) => [JSON.stringify([r.model, r.connectionId])]);
  return [...groups].map(([key, group]) => {
    const [model, connectionId] = JSON.parse(key) as [string, string | null];
    return {
      kind: 'unknown_price',
      title: `No price known for model ${model}`,
      detail: `${plural(group.count, 'request')} used tokens with no known price, so their cost is missing from the totals.`,
      count: group.count,
      firstSeen: iso(group.first.ts),
      lastSeen: iso(group.last.ts),
      connectionId,
    };
  });
}
