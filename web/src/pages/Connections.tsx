// Connections: the keys with their usage; create (key shown once), settings, enable /
// disable, rotate and delete. Connections from the config file are read-only here.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { type FormEvent, useMemo, useState } from 'react';
import { ApiError, type Connection, type ConnectionWithKey, connections, stats } from '../api';
import { ConnectionSettings } from '../components/ConnectionSettings';
import { DataTable, type TableFeatures } from '../components/DataTable';
import { FilterBar, useConnections } from '../components/FilterBar';
import { KeyDialog } from '../components/KeyDialog';
import { ConfirmDialog } from '../components/Modal';
import { SpendBars } from '../components/SpendBars';
import { Empty, ErrorState, FirstRequest, Loading } from '../components/States';
import { useFilters } from '../filters';
import { DASH, formatCount, formatMoney, formatTime } from '../format';

interface Row extends Connection {
  requests: number | null;
  costUsd: number | null;
}

type Dialog =
  | { kind: 'key'; title: string; created: ConnectionWithKey }
  | { kind: 'settings'; connection: Connection }
  | { kind: 'rotate'; connection: Connection }
  | { kind: 'delete'; connection: Connection };

export function ConnectionsPage() {
  const queryClient = useQueryClient();
  const filters = useFilters();
  const list = useConnections();
  // Requests and cost per connection in the chosen range, from the stats API.
  const usage = useQuery({
    queryKey: ['stats-by-connection', filters.key],
    queryFn: () =>
      stats.timeseries({ ...filters.apiQuery(), connection: undefined, interval: 'day', split: 'connection' }),
  });
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [name, setName] = useState('');
  const [actionError, setActionError] = useState<string | null>(null);

  const refresh = () => queryClient.invalidateQueries({ queryKey: ['connections'] });
  const onError = (err: unknown) => setActionError(err instanceof Error ? err.message : String(err));
  const create = useMutation({
    mutationFn: (newName: string) => connections.create({ name: newName }),
    onSuccess: async (created) => {
      setName('');
      setDialog({ kind: 'key', title: 'Connection created', created });
      await refresh();
    },
    onError,
  });
  const setEnabled = useMutation({
    mutationFn: ({ id, enabled }: { id: string; enabled: boolean }) => connections.update(id, { enabled }),
    onSuccess: refresh,
    onError,
  });
  const rotate = useMutation({
    mutationFn: (id: string) => connections.rotate(id),
    onSuccess: async (created) => {
      setDialog({ kind: 'key', title: 'Key rotated', created });
      await refresh();
    },
    onError,
  });
  const remove = useMutation({
    mutationFn: (id: string) => connections.remove(id),
    onSuccess: async () => {
      setDialog(null);
      await refresh();
    },
    onError,
  });

  const rows = useMemo((): Row[] => {
    const totals = new Map<string, { requests: number; costUsd: number }>();
    for (const bucket of usage.data?.buckets ?? []) {
      for (const [key, amount] of Object.entries(bucket.values)) {
        const sum = totals.get(key) ?? { requests: 0, costUsd: 0 };
        sum.requests += amount.requests;
        sum.costUsd += amount.costUsd;
        totals.set(key, sum);
      }
    }
    return (list.data ?? []).map((c) => {
      const total = usage.data ? (totals.get(c.id) ?? totals.get(c.name) ?? { requests: 0, costUsd: 0 }) : null;
      return { ...c, requests: total?.requests ?? null, costUsd: total?.costUsd ?? null };
    });
  }, [list.data, usage.data]);

  const columns = useMemo(() => {
    const h = createColumnHelper<TableFeatures, Row>();
    return h.columns([
      h.accessor('name', {
        header: 'Name',
        cell: (info) => (
          <span>
            {info.getValue()}
            {info.row.original.managedBy === 'file' && (
              <span className="badge" title="Declared in the config file; read-only here">
                config file
              </span>
            )}
          </span>
        ),
      }),
      h.accessor('keyPrefix', { header: 'Key', cell: (info) => <code>{info.getValue()}…</code> }),
      h.accessor('enabled', {
        header: 'Enabled',
        cell: (info) => {
          const c = info.row.original;
          return (
            <label className="switch">
              <input
                type="checkbox"
                role="switch"
                aria-checked={c.enabled}
                aria-label={`Enabled: ${c.name}`}
                checked={c.enabled}
                disabled={c.managedBy === 'file' || setEnabled.isPending}
                onChange={(event) => setEnabled.mutate({ id: c.id, enabled: event.target.checked })}
              />
              <span className="switch-label">{c.enabled ? 'on' : 'off'}</span>
            </label>
          );
        },
      }),
      h.accessor('requests', { header: 'Requests', cell: (info) => formatCount(info.getValue()) }),
      h.accessor('costUsd', { header: 'Cost', cell: (info) => formatMoney(info.getValue()) }),
      h.display({
        id: 'spend',
        header: 'Limits and budgets',
        cell: (info) => {
          const c = info.row.original;
          // Only connections that have any ask the gateway where they stand.
          return c.policy.limits.length + c.policy.budgets.length > 0 ? <SpendBars connection={c.id} /> : null;
        },
      }),
      h.accessor('createdAt', { header: 'Created', cell: (info) => formatTime(info.getValue()) }),
      h.display({
        id: 'actions',
        header: 'Actions',
        cell: (info) => {
          const c = info.row.original;
          const fromFile = c.managedBy === 'file';
          return (
            <span className="actions">
              <button
                type="button"
                aria-label={`Settings: ${c.name}`}
                title="Policy settings"
                onClick={() => setDialog({ kind: 'settings', connection: c })}
              >
                ⚙ Settings
              </button>
              <button
                type="button"
                aria-label={`Rotate key: ${c.name}`}
                disabled={fromFile}
                onClick={() => setDialog({ kind: 'rotate', connection: c })}
              >
                Rotate
              </button>
              <button
                type="button"
                className="danger"
                aria-label={`Delete: ${c.name}`}
                disabled={fromFile}
                onClick={() => setDialog({ kind: 'delete', connection: c })}
              >
                Delete
              </button>
            </span>
          );
        },
      }),
    ]);
  }, [setEnabled]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setActionError(null);
    if (name.trim()) create.mutate(name.trim());
  };

  return (
    <section>
      <h1>Connections</h1>
      <FilterBar />
      <form className="inline-form" onSubmit={submit} aria-label="New connection">
        <label>
          New connection name
          <input
            value={name}
            maxLength={100}
            onChange={(event) => setName(event.target.value)}
            placeholder="production"
          />
        </label>
        <button type="submit" className="primary" disabled={create.isPending || name.trim() === ''}>
          Create connection
        </button>
      </form>
      {actionError && (
        <p className="form-error" role="alert">
          {actionError}
        </p>
      )}
      {usage.isError && (
        <p className="muted">
          Requests and cost per connection are shown as {DASH}:{' '}
          {usage.error instanceof ApiError && usage.error.status === 404
            ? 'this gateway does not offer the statistics API yet.'
            : String(usage.error)}
        </p>
      )}
      {list.isPending ? (
        <Loading what="connections" />
      ) : list.isError ? (
        <ErrorState error={list.error} what="Connections" />
      ) : rows.length === 0 ? (
        <Empty title="No connections yet.">
          <p>Create one above: its key is shown once, with code to paste into your application.</p>
        </Empty>
      ) : (
        <DataTable label="Connections" columns={columns} data={rows} />
      )}
      {rows.length > 0 && rows.every((r) => r.requests === 0) && (
        <Empty title="No requests in this time range yet.">
          <FirstRequest />
        </Empty>
      )}
      {dialog?.kind === 'key' && (
        <KeyDialog created={dialog.created} title={dialog.title} onClose={() => setDialog(null)} />
      )}
      {dialog?.kind === 'settings' && (
        <ConnectionSettings connection={dialog.connection} onClose={() => setDialog(null)} />
      )}
      {dialog?.kind === 'rotate' && (
        <ConfirmDialog
          title={`Rotate the key of ${dialog.connection.name}?`}
          message="A new key is issued and the current one stops working at once."
          confirmLabel="Rotate key"
          onConfirm={() => {
            setActionError(null);
            rotate.mutate(dialog.connection.id);
          }}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog?.kind === 'delete' && (
        <ConfirmDialog
          title={`Delete ${dialog.connection.name}?`}
          message="Its key stops working at once. Its log records are kept."
          confirmLabel="Delete connection"
          danger
          onConfirm={() => {
            setActionError(null);
            remove.mutate(dialog.connection.id);
          }}
          onClose={() => setDialog(null)}
        />
      )}
    </section>
  );
}
