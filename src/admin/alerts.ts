// /api/alerts: what needs attention in a time range, from the request log's alert rollups
// (store/alert-rollups.ts) — requests blocked by a policy (by flag type), bursts of
// upstream errors, and models answered without a known price. Delivery (mail, webhooks)
// comes later.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DAY_MS } from '../domain.js';
import { alertGroupsOf } from '../store/alert-rollups.js';
import type { AlertGroup, AlertRecord, Store } from '../store/store.js';
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

export async function alertRoutes(app: FastifyInstance, store: Store): Promise<void> {
  app.get('/alerts', async (request) => {
    const query = AlertQuerySchema.parse(request.query);
    const to = query.to ?? Date.now();
    const from = query.from ?? to - DAY_MS;
    return { data: toAlerts(await store.queryAlerts({ connectionId: query.connection, from, to })) };
  });
}

/** Alerts from records (any order): blocked requests by flag type, upstream error bursts, unknown prices. */
export function computeAlerts(records: readonly AlertRecord[]): Alert[] {
  return toAlerts(alertGroupsOf(records));
}

/** Alerts from their groups, most recent first. */
function toAlerts(groups: readonly AlertGroup[]): Alert[] {
  return groups.map(toAlert).sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function toAlert(group: AlertGroup): Alert {
  const { count, connectionId } = group;
  const connection = group.connectionName ?? connectionId ?? 'none';
  const seen = {
    count,
    firstSeen: new Date(group.firstTs).toISOString(),
    lastSeen: new Date(group.lastTs).toISOString(),
    connectionId,
  };
  switch (group.kind) {
    case 'blocked':
      return {
        kind: 'blocked_requests',
        title: `${plural(count, 'request')} blocked: ${group.subject}`,
        detail: `${group.detail ?? group.subject} (connection ${connection})`,
        ...seen,
      };
    case 'burst':
      return {
        kind: 'upstream_errors',
        title: `${plural(count, 'upstream error')} in a burst`,
        detail: `Statuses ${group.subject} on connection ${connection}; last error: ${group.detail ?? 'none recorded'}`,
        ...seen,
      };
    case 'unpriced':
      return {
        kind: 'unknown_price',
        title: `No price known for model ${group.subject}`,
        detail: `${plural(count, 'request')} used tokens with no known price, so their cost is missing from the totals.`,
        ...seen,
      };
  }
}
