// End-User Tracking: top users by cost, by errors, by flags and moderations, and a table
// of every user (with their per-user limits and budgets when filtered to one connection);
// a click opens that user's logs.
import { useQuery } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useEffect, useMemo, useState } from 'react';
import { BUDGET_USERS_PER_REQUEST, budgets, type SpendStatus, stats, type UserSort, type UserStats } from '../api';
import { DataTable, type TableFeatures } from '../components/DataTable';
import { FilterBar } from '../components/FilterBar';
import { SpendBarList } from '../components/SpendBars';
import { Empty, ErrorState, FirstRequest, Loading } from '../components/States';
import { useFilters } from '../filters';
import { formatCount, formatDuration, formatMoney } from '../format';
import { hrefFor, useRoute } from '../router';

const TOP = [
  { sort: 'cost', title: 'Top users by cost', value: (u: UserStats) => formatMoney(u.costUsd) },
  { sort: 'errors', title: 'Top users by errors', value: (u: UserStats) => formatCount(u.errors) },
  {
    sort: 'flags',
    title: 'Top users by flags and moderations',
    value: (u: UserStats) => `${formatCount(u.flags)} flags, ${formatCount(u.moderations)} moderated`,
  },
] as const satisfies readonly { sort: UserSort; title: string; value(u: UserStats): string }[];

const logsHref = (u: UserStats) => hrefFor('logs', { user: u.user, connection: u.connectionId });

export function UsersPage() {
  const filters = useFilters();
  const { params, setParams } = useRoute();
  const userFilter = params.get('user') ?? '';
  const [text, setText] = useState(userFilter);
  useEffect(() => setText(userFilter), [userFilter]);

  const table = useQuery({
    queryKey: ['stats-users', filters.key, userFilter],
    queryFn: () => stats.users({ ...filters.apiQuery(), sort: 'cost', limit: 500, user: userFilter || undefined }),
  });
  const spend = useUserSpend(filters.connection, table.data);
  const columns = useMemo(
    () => (spend && spend.size > 0 ? [...userColumns, spendColumn(spend)] : userColumns),
    [spend],
  );

  return (
    <section>
      <h1>End-User Tracking</h1>
      <FilterBar>
        <label>
          User
          <input
            type="search"
            value={text}
            placeholder="user-123"
            onChange={(event) => setText(event.target.value)}
            onBlur={() => setParams({ user: text.trim() || null })}
            onKeyDown={(event) => {
              if (event.key === 'Enter') setParams({ user: text.trim() || null });
            }}
          />
        </label>
      </FilterBar>
      <div className="top-lists">
        {TOP.map((top) => (
          <TopList key={top.sort} sort={top.sort} title={top.title} value={top.value} />
        ))}
      </div>
      <div className="panel">
        <h2>Users</h2>
        {table.isPending ? (
          <Loading what="users" />
        ) : table.isError ? (
          <ErrorState error={table.error} what="User statistics" />
        ) : table.data.length === 0 ? (
          <Empty title="No end users in this time range.">
            <p>
              Requests are attributed to an end user by their <code>user</code> field (turn on Enforce User IDs to make
              it required).
            </p>
            <FirstRequest />
          </Empty>
        ) : (
          <DataTable label="End users" columns={columns} data={table.data} />
        )}
      </div>
    </section>
  );
}

function TopList({ sort, title, value }: { sort: UserSort; title: string; value(u: UserStats): string }) {
  const filters = useFilters();
  const top = useQuery({
    queryKey: ['stats-users-top', filters.key, sort],
    queryFn: () => stats.users({ ...filters.apiQuery(), sort, limit: 5 }),
  });
  return (
    <div className="card top-list">
      <h2>{title}</h2>
      {top.isPending ? (
        <Loading what="users" />
      ) : top.isError ? (
        <ErrorState error={top.error} what="User statistics" />
      ) : top.data.length === 0 ? (
        <p className="muted">No end users yet.</p>
      ) : (
        <ol>
          {top.data.map((u) => (
            <li key={`${u.user}|${u.connectionId}`}>
              <a href={logsHref(u)}>{u.user}</a> <span className="muted">{u.connectionName}</span>
              <span className="top-value">{value(u)}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/**
 * Where each listed user stands in the per-user limits and budgets of the filtered connection
 * (connection-wide ones are on Connections): a few batched requests, never one per row.
 */
function useUserSpend(connection: string | null, rows: UserStats[] | undefined) {
  const users = useMemo(() => [...new Set((rows ?? []).map((u) => u.user))], [rows]);
  const query = useQuery({
    queryKey: ['budgets-users', connection, users],
    enabled: connection !== null && users.length > 0,
    refetchInterval: 10_000,
    queryFn: async () => {
      const chunks: string[][] = [];
      for (let i = 0; i < users.length; i += BUDGET_USERS_PER_REQUEST) {
        chunks.push(users.slice(i, i + BUDGET_USERS_PER_REQUEST));
      }
      const answers = await Promise.all(chunks.map((chunk) => budgets.users(connection as string, chunk)));
      const byUser = new Map<string, SpendStatus[]>();
      for (const status of answers.flat()) {
        if (status.subject === null) continue;
        byUser.set(status.subject, [...(byUser.get(status.subject) ?? []), status]);
      }
      return byUser;
    },
  });
  return connection === null ? undefined : query.data;
}

const h = createColumnHelper<TableFeatures, UserStats>();
const spendColumn = (spend: Map<string, SpendStatus[]>) =>
  h.display({
    id: 'spend',
    header: 'Limits and budgets',
    cell: (info) => {
      const statuses = spend.get(info.row.original.user);
      return statuses ? <SpendBarList statuses={statuses} /> : null;
    },
  });
const userColumns = h.columns([
  h.accessor('user', { header: 'User', cell: (info) => <a href={logsHref(info.row.original)}>{info.getValue()}</a> }),
  h.accessor((u) => u.connectionName ?? u.connectionId ?? '', { id: 'connection', header: 'Connection' }),
  h.accessor('costUsd', { header: 'Cost', cell: (info) => formatMoney(info.getValue()) }),
  h.accessor((u) => u.avgLatencyMs ?? 0, {
    id: 'latency',
    header: 'Avg latency',
    cell: (info) => formatDuration(info.row.original.avgLatencyMs),
  }),
  h.accessor('requests', { header: 'Requests', cell: (info) => formatCount(info.getValue()) }),
  h.accessor('errors', { header: 'Errors', cell: (info) => formatCount(info.getValue()) }),
  h.accessor('flags', { header: 'Flags', cell: (info) => formatCount(info.getValue()) }),
  h.accessor('moderations', { header: 'Moderations', cell: (info) => formatCount(info.getValue()) }),
]);
