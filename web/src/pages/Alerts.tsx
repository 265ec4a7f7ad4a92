// Alerts: what needs attention in the range, computed by the gateway from the log.
// Delivery (mail, webhooks) comes in a later version.
import { useQuery } from '@tanstack/react-query';
import { alerts } from '../api';
import { FilterBar, useConnections } from '../components/FilterBar';
import { Empty, ErrorState, Loading } from '../components/States';
import { useFilters } from '../filters';
import { formatCount, formatTime } from '../format';

const KIND_ICONS: Record<string, string> = { blocked_requests: '×', upstream_errors: '!', unknown_price: '$' };

export function AlertsPage() {
  const filters = useFilters();
  const list = useQuery({ queryKey: ['alerts', filters.key], queryFn: () => alerts.list(filters.apiQuery()) });
  const connectionNames = new Map((useConnections().data ?? []).map((c) => [c.id, c.name]));
  return (
    <section>
      <h1>Alerts</h1>
      <FilterBar />
      <p className="muted">
        Computed from the request log: requests blocked by a policy, bursts of upstream errors, and models without a
        known price. Notifications by mail or webhook are not available yet.
      </p>
      {list.isPending ? (
        <Loading what="alerts" />
      ) : list.isError ? (
        <ErrorState error={list.error} what="Alerts" />
      ) : list.data.length === 0 ? (
        <Empty title="Nothing needs attention in this time range.">
          <p>Blocked requests, upstream error bursts and unpriced models will show up here.</p>
        </Empty>
      ) : (
        <ul className="alerts">
          {list.data.map((alert) => (
            <li
              key={`${alert.kind}|${alert.title}|${alert.connectionId}|${alert.firstSeen}`}
              className={`alert alert-${alert.kind}`}
            >
              <span className="alert-icon" aria-hidden="true">
                {KIND_ICONS[alert.kind] ?? '⚑'}
              </span>
              <div>
                <strong>{alert.title}</strong>
                <p>{alert.detail}</p>
                <p className="muted">
                  {formatCount(alert.count)} · first {formatTime(alert.firstSeen)} · last {formatTime(alert.lastSeen)}
                  {alert.connectionId && ` · ${connectionNames.get(alert.connectionId) ?? alert.connectionId}`}
                </p>
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
