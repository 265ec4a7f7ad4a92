// The connection filter and time range at the top of every page, plus page-specific filters.
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { connections } from '../api';
import { RANGES, useFilters } from '../filters';

export function useConnections() {
  return useQuery({ queryKey: ['connections'], queryFn: connections.list });
}

export function FilterBar({ children }: { children?: ReactNode }) {
  const filters = useFilters();
  const list = useConnections();
  return (
    <div className="filter-bar">
      <label>
        Connection
        <select
          value={filters.connection ?? ''}
          onChange={(event) => filters.set({ connection: event.target.value || null })}
        >
          <option value="">All connections</option>
          {(list.data ?? []).map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Time range
        <select value={filters.range} onChange={(event) => filters.set({ range: event.target.value })}>
          {RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      </label>
      {filters.range === 'custom' && (
        <>
          <label>
            From
            <input
              type="datetime-local"
              value={filters.customFrom}
              onChange={(event) => filters.set({ from: event.target.value || null })}
            />
          </label>
          <label>
            To
            <input
              type="datetime-local"
              value={filters.customTo}
              onChange={(event) => filters.set({ to: event.target.value || null })}
            />
          </label>
        </>
      )}
      {children}
    </div>
  );
}
