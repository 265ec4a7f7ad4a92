// Logs: every request, newest first and live; filters kept in the URL; flags as icons
// with explanations; a details view; CSV export of the current filter.
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useEffect, useMemo, useState } from 'react';
import { type LogPage, type LogRecord, logs, OPERATIONS, PROVIDERS, type Query } from '../api';
import { DataTable, type TableFeatures } from '../components/DataTable';
import { FilterBar } from '../components/FilterBar';
import { FlagIcons, flagInfo, KNOWN_FLAG_TYPES } from '../components/Flags';
import { LogDetails } from '../components/LogDetails';
import { Empty, ErrorState, FirstRequest, Loading } from '../components/States';
import { useFilters } from '../filters';
import { DASH, formatCount, formatDuration, formatMoney, formatTime } from '../format';
import { useRoute } from '../router';

const PAGE_SIZE = 50;
/** How often the first page asks for new records. */
const LIVE_INTERVAL_MS = 2000;
/**
 * How often the live page is read again whole: a record's id is made when its request arrives,
 * so one that ran long (a stream) is written with an id older than rows already shown.
 */
const FULL_REFRESH_MS = 60_000;

/** The live page: the rows shown and when they were last read whole. */
type LivePage = LogPage & { loadedAt: number };

/**
 * The next state of the live page: the records newer than its newest row, merged on top
 * (O(new rows) per refresh), or the page read whole when it is due, has grown past two
 * pages, or more records are new than one answer holds.
 */
async function refreshLive(previous: LivePage | undefined, query: Query): Promise<LivePage> {
  const newest = previous?.data[0]?.id;
  const now = Date.now();
  if (!previous || !newest || now - previous.loadedAt >= FULL_REFRESH_MS) {
    return { ...(await logs.list({ ...query, limit: PAGE_SIZE })), loadedAt: now };
  }
  const fresh = await logs.list({ ...query, limit: PAGE_SIZE, since: newest });
  if (fresh.data.length === 0) return previous;
  if (fresh.nextCursor || previous.data.length + fresh.data.length > 2 * PAGE_SIZE) {
    return { ...(await logs.list({ ...query, limit: PAGE_SIZE })), loadedAt: now };
  }
  return { ...previous, data: [...fresh.data, ...previous.data] };
}

/** The text filters, as URL parameter → API parameter. */
const TEXT_FILTERS = [
  { param: 'user', label: 'User', placeholder: 'user-123' },
  { param: 'model', label: 'Model', placeholder: 'gpt-4o-mini' },
  { param: 'traceId', label: 'Trace ID', placeholder: 'trace-…' },
] as const;

export function LogsPage() {
  const filters = useFilters();
  const { params, setParams } = useRoute();
  const showMeta = params.get('meta') === '1';
  const detailId = params.get('detail');

  const query = (): Query => {
    const { tz: _tz, ...range } = filters.apiQuery();
    return {
      ...range,
      user: params.get('user'),
      model: params.get('model'),
      traceId: params.get('traceId'),
      operation: params.get('operation'),
      provider: params.get('provider'),
      flag: params.get('flag'),
      error: params.get('errors') === '1' ? 'true' : undefined,
    };
  };
  const filterKey = [
    filters.key,
    ...['user', 'model', 'traceId', 'operation', 'provider', 'flag', 'errors'].map((p) => params.get(p)),
  ].join('|');

  // Cursors of the pages before the current one; empty on the first (live) page.
  const [cursors, setCursors] = useState<string[]>([]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter starts again at the newest records
  useEffect(() => setCursors([]), [filterKey]);
  const cursor = cursors.at(-1);
  const live = cursor === undefined;

  const queryClient = useQueryClient();
  const queryKey = ['logs', filterKey, cursor ?? null];
  const page = useQuery<LogPage>({
    queryKey,
    queryFn: () =>
      live
        ? refreshLive(queryClient.getQueryData<LivePage>(queryKey), query())
        : logs.list({ ...query(), limit: PAGE_SIZE, cursor }),
    refetchInterval: live ? LIVE_INTERVAL_MS : false,
    placeholderData: keepPreviousData,
  });

  const columns = useMemo(() => logColumns(showMeta), [showMeta]);

  return (
    <section>
      <h1>Logs</h1>
      <FilterBar>
        {TEXT_FILTERS.map((f) => (
          <TextFilter
            key={f.param}
            label={f.label}
            placeholder={f.placeholder}
            value={params.get(f.param) ?? ''}
            onChange={(value) => setParams({ [f.param]: value || null })}
          />
        ))}
        <label>
          Operation
          <select
            value={params.get('operation') ?? ''}
            onChange={(event) => setParams({ operation: event.target.value || null })}
          >
            <option value="">All</option>
            {OPERATIONS.map((op) => (
              <option key={op} value={op}>
                {op}
              </option>
            ))}
          </select>
        </label>
        <label>
          Provider
          <select
            value={params.get('provider') ?? ''}
            onChange={(event) => setParams({ provider: event.target.value || null })}
          >
            <option value="">All</option>
            {PROVIDERS.map((provider) => (
              <option key={provider} value={provider}>
                {provider}
              </option>
            ))}
          </select>
        </label>
        <label>
          Flag
          <select
            value={params.get('flag') ?? ''}
            onChange={(event) => setParams({ flag: event.target.value || null })}
          >
            <option value="">Any</option>
            {KNOWN_FLAG_TYPES.map((type) => (
              <option key={type} value={type}>
                {flagInfo(type).label}
              </option>
            ))}
          </select>
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={params.get('errors') === '1'}
            onChange={(event) => setParams({ errors: event.target.checked ? '1' : null })}
          />
          Errors only
        </label>
      </FilterBar>
      <div className="toolbar">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={showMeta}
            onChange={(event) => setParams({ meta: event.target.checked ? '1' : null })}
          />
          Show metadata (OpenAI ID, organization, trace ID, IP, user agent)
        </label>
        <span className="live" aria-live="polite">
          {live ? '● Live' : 'Paused on an older page'}
        </span>
        <a
          className="button"
          href={logs.exportUrl(query())}
          download="usage-panda-logs.csv"
          // The range ends "now": take it when the person clicks, not when the page rendered.
          onClick={(event) => {
            event.currentTarget.href = logs.exportUrl(query());
          }}
        >
          Export CSV
        </a>
      </div>
      {page.isPending ? (
        <Loading what="logs" />
      ) : page.isError ? (
        <ErrorState error={page.error} what="Logs" />
      ) : page.data.data.length === 0 && live ? (
        <Empty title="No requests match these filters.">
          <FirstRequest />
        </Empty>
      ) : (
        <>
          <DataTable
            label="Request log"
            columns={columns}
            data={page.data.data}
            rowClassName={(r) => (r.status >= 400 ? 'row-error' : undefined)}
          />
          <div className="pager">
            <button type="button" disabled={live} onClick={() => setCursors([])}>
              Newest
            </button>
            <button type="button" disabled={live} onClick={() => setCursors((c) => c.slice(0, -1))}>
              ← Newer
            </button>
            <span>Page {cursors.length + 1}</span>
            <button
              type="button"
              disabled={!page.data.nextCursor}
              onClick={() => {
                const next = page.data.nextCursor;
                if (next) setCursors((c) => [...c, next]);
              }}
            >
              Older →
            </button>
          </div>
        </>
      )}
      {detailId && <LogDetails id={detailId} onClose={() => setParams({ detail: null })} />}
    </section>
  );
}

/** A text filter applied on Enter or when the field loses focus, not on every key. */
function TextFilter(props: { label: string; placeholder: string; value: string; onChange(value: string): void }) {
  const [text, setText] = useState(props.value);
  useEffect(() => setText(props.value), [props.value]);
  return (
    <label>
      {props.label}
      <input
        type="search"
        value={text}
        placeholder={props.placeholder}
        onChange={(event) => setText(event.target.value)}
        onBlur={() => props.onChange(text.trim())}
        onKeyDown={(event) => {
          if (event.key === 'Enter') props.onChange(text.trim());
        }}
      />
    </label>
  );
}

function logColumns(showMeta: boolean) {
  const h = createColumnHelper<TableFeatures, LogRecord>();
  const text = (value: string | null) => value ?? DASH;
  const base = [
    h.accessor('ts', {
      header: 'Timestamp',
      cell: (info) => (
        <a
          href={`#/logs?detail=${encodeURIComponent(info.row.original.id)}`}
          onClick={openDetail(info.row.original.id)}
        >
          {formatTime(info.getValue())}
        </a>
      ),
    }),
    h.accessor((r) => r.connectionName ?? r.connectionId ?? DASH, { id: 'connection', header: 'Connection' }),
    h.accessor((r) => r.edge ?? DASH, { id: 'edge', header: 'Edge' }),
    h.accessor('operation', { header: 'Operation' }),
    h.accessor((r) => r.model ?? DASH, { id: 'model', header: 'Model' }),
    h.accessor('costUsd', { header: 'Cost', cell: (info) => formatMoney(info.getValue()) }),
    h.accessor('latencyMs', { header: 'Latency', cell: (info) => formatDuration(info.getValue()) }),
    h.accessor('totalTokens', { header: 'Tokens', cell: (info) => formatCount(info.getValue()) }),
    h.accessor((r) => r.endUser ?? '', { id: 'user', header: 'User', cell: (info) => info.getValue() || DASH }),
    h.accessor((r) => r.flags.length, {
      id: 'flags',
      header: 'Flags',
      cell: (info) => <FlagIcons flags={info.row.original.flags} />,
    }),
    h.accessor('status', {
      header: 'Status',
      cell: (info) => (
        <span className={`status ${info.getValue() >= 400 ? 'status-error' : 'status-ok'}`}>{info.getValue()}</span>
      ),
    }),
    h.accessor('provider', { header: 'Provider' }),
  ];
  const meta = [
    h.accessor((r) => r.upstreamId ?? '', {
      id: 'upstreamId',
      header: 'OpenAI ID',
      cell: (i) => text(i.getValue() || null),
    }),
    h.accessor((r) => r.organization ?? '', {
      id: 'organization',
      header: 'Organization',
      cell: (i) => text(i.getValue() || null),
    }),
    h.accessor((r) => r.traceId ?? '', { id: 'traceId', header: 'Trace ID', cell: (i) => text(i.getValue() || null) }),
    h.accessor((r) => r.ip ?? '', { id: 'ip', header: 'IP address', cell: (i) => text(i.getValue() || null) }),
    h.accessor((r) => r.userAgent ?? '', {
      id: 'userAgent',
      header: 'User agent',
      cell: (i) => text(i.getValue() || null),
    }),
  ];
  const details = h.display({
    id: 'details',
    header: '',
    cell: (info) => (
      <a
        className="button small"
        href={`#/logs?detail=${encodeURIComponent(info.row.original.id)}`}
        onClick={openDetail(info.row.original.id)}
        aria-label={`Details of ${info.row.original.id}`}
      >
        Details
      </a>
    ),
  });
  return h.columns([...base, ...(showMeta ? meta : []), details]);
}

/** Opens a record's details while keeping the page's filters in the URL. */
const openDetail = (id: string) => (event: React.MouseEvent) => {
  event.preventDefault();
  const [path = '', query = ''] = window.location.hash.split('?');
  const params = new URLSearchParams(query);
  params.set('detail', id);
  window.location.hash = `${path}?${params.toString()}`;
};
