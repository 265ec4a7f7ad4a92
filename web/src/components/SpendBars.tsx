// Spent / reserved / limit bars for the limits and budgets of a connection (and an end user),
// from /api/budgets: what settled requests used, what requests in flight hold, what remains.
import { useQuery } from '@tanstack/react-query';
import { budgets, type SpendStatus } from '../api';

const amount = (s: SpendStatus, value: number) =>
  s.unit === 'usd' ? `$${value.toFixed(value < 1 ? 4 : 2)}` : value.toLocaleString();

export function SpendBars({ connection, user }: { connection: string; user?: string }) {
  const query = useQuery({
    queryKey: ['budgets', connection, user ?? null],
    queryFn: () => budgets.status(connection, user),
    refetchInterval: 10_000,
  });
  if (!query.data || query.data.length === 0) return null;
  return <SpendBarList statuses={query.data} />;
}

/** The bars of statuses already fetched (End-User Tracking fetches them for many users at once). */
export function SpendBarList({ statuses }: { statuses: readonly SpendStatus[] }) {
  return (
    <ul className="spend-bars" aria-label="Limits and budgets">
      {statuses.map((s) => {
        const usedPct = s.limit > 0 ? Math.min(100, (s.used / s.limit) * 100) : 0;
        const reservedPct = s.limit > 0 ? Math.min(100 - usedPct, (s.reserved / s.limit) * 100) : 0;
        return (
          <li key={`${s.unit}-${s.per}-${s.window}-${s.limit}`}>
            <span className="spend-label">
              {s.description}: {amount(s, s.used)} used
              {s.reserved > 0 ? `, ${amount(s, s.reserved)} reserved` : ''} of {amount(s, s.limit)}
            </span>
            {/* The label above says it in words; the bar is for the eye. */}
            <span className="spend-bar" aria-hidden="true">
              <span className="spend-used" style={{ width: `${usedPct}%` }} />
              <span className="spend-reserved" style={{ width: `${reservedPct}%` }} />
            </span>
          </li>
        );
      })}
    </ul>
  );
}
