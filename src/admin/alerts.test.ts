// Alerts computed from log records: blocked requests by flag type, upstream error bursts,
// models without a known price.
import { describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { BURST_GAP_MS } from '../store/alert-rollups.js';
import { computeAlerts } from './alerts.js';

const T0 = Date.parse('2026-01-01T10:00:00Z');
const blockedFlag = { type: 'policy_enforce_user_ids', description: 'Config set to block requests without user field' };

describe('computeAlerts', () => {
  it('groups blocked requests by flag type and connection, with first and last seen', () => {
    const alerts = computeAlerts([
      logRecord({ ts: T0 + 2000, status: 422, flags: [blockedFlag] }),
      logRecord({ ts: T0, status: 422, flags: [blockedFlag] }),
      logRecord({ ts: T0 + 1000, status: 422, flags: [blockedFlag], connectionId: 'conn_b', connectionName: 'b' }),
      // Flagged but allowed (an audit): not a blocked request.
      logRecord({ ts: T0, status: 200, flags: [{ type: 'policy_wordlists', description: 'audit' }] }),
    ]);
    expect(alerts).toEqual([
      {
        kind: 'blocked_requests',
        title: '2 requests blocked: policy_enforce_user_ids',
        detail: 'Config set to block requests without user field (connection a)',
        count: 2,
        firstSeen: '2026-01-01T10:00:00.000Z',
        lastSeen: '2026-01-01T10:00:02.000Z',
        connectionId: 'conn_a',
      },
      {
        kind: 'blocked_requests',
        title: '1 request blocked: policy_enforce_user_ids',
        detail: 'Config set to block requests without user field (connection b)',
        count: 1,
        firstSeen: '2026-01-01T10:00:01.000Z',
        lastSeen: '2026-01-01T10:00:01.000Z',
        connectionId: 'conn_b',
      },
    ]);
  });

  it('reports three or more upstream errors close together as a burst, and not scattered ones', () => {
    const burst = [0, 1000, 2000].map((dt) => logRecord({ ts: T0 + dt, status: 502, error: 'upstream unreachable' }));
    const scattered = [0, 2, 4].map((n) =>
      logRecord({ ts: T0 + 3600_000 + n * BURST_GAP_MS, status: 504, connectionId: 'conn_b' }),
    );
    const alerts = computeAlerts([...burst, ...scattered]);
    expect(alerts).toEqual([
      {
        kind: 'upstream_errors',
        title: '3 upstream errors in a burst',
        detail: 'Statuses 502 on connection a; last error: upstream unreachable',
        count: 3,
        firstSeen: '2026-01-01T10:00:00.000Z',
        lastSeen: '2026-01-01T10:00:02.000Z',
        connectionId: 'conn_a',
      },
    ]);
  });

  it('reports successful requests that used tokens but have no cost as an unknown price', () => {
    const alerts = computeAlerts([
      logRecord({ ts: T0, model: 'my-local-model', costUsd: null, totalTokens: 10 }),
      logRecord({ ts: T0 + 1, model: 'my-local-model', costUsd: null, totalTokens: 5 }),
      logRecord({ ts: T0, model: 'gpt-4o-mini', costUsd: 0.001 }),
      logRecord({ ts: T0, model: 'text-embedding-3-small', costUsd: null, totalTokens: 0 }),
    ]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      kind: 'unknown_price',
      title: 'No price known for model my-local-model',
      count: 2,
    });
  });

  it('has nothing to say about a quiet log', () => {
    expect(computeAlerts([logRecord(), logRecord({ status: 400 })])).toEqual([]);
  });
});
