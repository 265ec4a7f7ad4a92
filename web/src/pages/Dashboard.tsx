// Dashboard: four cards with sparklines and change against the previous period, cost per
// day stacked by operation, requests per model and per provider.
import { useQuery } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import type { EChartsCoreOption } from 'echarts/core';
import { useMemo } from 'react';
import { type ModelStats, type ProviderStats, type Summary, stats, type Timeseries } from '../api';
import { Chart, Sparkline } from '../components/Chart';
import { DataTable, type TableFeatures } from '../components/DataTable';
import { FilterBar } from '../components/FilterBar';
import { Empty, ErrorState, FirstRequest, Loading } from '../components/States';
import { useFilters } from '../filters';
import { formatCount, formatDay, formatHour, formatMoney, formatPercent } from '../format';

/** The operations of the costs breakdown, in the order the issue lists them. */
const BREAKDOWN_OPERATIONS = ['completion', 'chat', 'embedding', 'edit', 'image', 'audio', 'response'];

export function DashboardPage() {
  const filters = useFilters();
  const summary = useQuery({
    queryKey: ['stats-summary', filters.key],
    queryFn: () => stats.summary(filters.apiQuery()),
  });
  const interval = filters.range === '24h' ? 'hour' : 'day';
  const timeseries = useQuery({
    queryKey: ['stats-timeseries', filters.key, interval],
    queryFn: () => stats.timeseries({ ...filters.apiQuery(), interval, split: 'operation' }),
  });
  const models = useQuery({ queryKey: ['stats-models', filters.key], queryFn: () => stats.models(filters.apiQuery()) });
  const providers = useQuery({
    queryKey: ['stats-providers', filters.key],
    queryFn: () => stats.providers(filters.apiQuery()),
  });

  return (
    <section>
      <h1>Dashboard</h1>
      <FilterBar />
      {summary.isPending ? (
        <Loading what="statistics" />
      ) : summary.isError ? (
        <ErrorState error={summary.error} what="Statistics" />
      ) : (
        <SummaryCards summary={summary.data} />
      )}
      {summary.data?.current.requests === 0 && (
        <Empty title="No requests in this time range yet.">
          <FirstRequest />
        </Empty>
      )}
      <div className="panel">
        <h2>Costs breakdown</h2>
        {timeseries.isPending ? (
          <Loading what="the costs breakdown" />
        ) : timeseries.isError ? (
          <ErrorState error={timeseries.error} what="Cost statistics" />
        ) : (
          <CostChart series={timeseries.data} />
        )}
      </div>
      <div className="panel">
        <h2>Models</h2>
        {models.isPending ? (
          <Loading what="models" />
        ) : models.isError ? (
          <ErrorState error={models.error} what="Model statistics" />
        ) : (
          <DataTable
            label="Requests per model"
            columns={modelColumns}
            data={models.data}
            empty={<p className="muted">No model was used in this time range.</p>}
          />
        )}
      </div>
      <div className="panel">
        <h2>Providers</h2>
        {providers.isPending ? (
          <Loading what="providers" />
        ) : providers.isError ? (
          <ErrorState error={providers.error} what="Provider statistics" />
        ) : (
          <DataTable
            label="Requests per provider"
            columns={providerColumns}
            data={withShares(providers.data)}
            empty={<p className="muted">No provider answered in this time range.</p>}
          />
        )}
      </div>
    </section>
  );
}

function change(value: number | null, points = false): { text: string; tone: string } {
  if (value === null) return { text: 'no previous data', tone: 'neutral' };
  const sign = value > 0 ? '+' : '';
  const text = points ? `${sign}${(value * 100).toFixed(1)} pts` : `${sign}${formatPercent(value)}`;
  return { text: `${text} vs previous period`, tone: value > 0 ? 'up' : value < 0 ? 'down' : 'neutral' };
}

function SummaryCards({ summary }: { summary: Summary }) {
  const { current, series } = summary;
  const cards = [
    {
      id: 'requests',
      title: 'API requests',
      value: formatCount(current.requests),
      delta: change(summary.change.requests),
      points: series.map((p) => p.requests),
    },
    {
      id: 'cost',
      title: 'Cost',
      value: formatMoney(current.costUsd),
      delta: change(summary.change.costUsd),
      points: series.map((p) => p.costUsd),
    },
    {
      id: 'tokens',
      title: 'Token usage',
      value: formatCount(current.tokens),
      delta: change(summary.change.tokens),
      points: series.map((p) => p.tokens),
    },
    {
      id: 'success',
      title: 'Success rate',
      value: formatPercent(current.successRate),
      delta: change(summary.change.successRate, true),
      points: series.map((p) => p.successRate ?? 0),
    },
  ];
  return (
    <div className="cards">
      {cards.map((card) => (
        <article key={card.id} className="card stat-card" data-card={card.id} aria-label={card.title}>
          <h2>{card.title}</h2>
          <p className="stat-value">{card.value}</p>
          <p className={`stat-change ${card.delta.tone}`}>{card.delta.text}</p>
          <Sparkline values={card.points} label={`${card.title} over time`} />
        </article>
      ))}
    </div>
  );
}

function CostChart({ series }: { series: Timeseries }) {
  const option = useMemo((): EChartsCoreOption => {
    const label = series.interval === 'hour' ? formatHour : formatDay;
    const keys = [...BREAKDOWN_OPERATIONS, ...series.keys.filter((k) => !BREAKDOWN_OPERATIONS.includes(k))].filter(
      (k) => series.keys.includes(k),
    );
    return {
      animation: false,
      tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => formatMoney(Number(v)) },
      legend: { top: 0 },
      grid: { left: 60, right: 16, top: 40, bottom: 30 },
      xAxis: { type: 'category', data: series.buckets.map((b) => label(b.ts)) },
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => formatMoney(v) } },
      series: keys.map((key) => ({
        name: key,
        type: 'bar',
        stack: 'cost',
        data: series.buckets.map((b) => b.values[key]?.costUsd ?? 0),
      })),
    };
  }, [series]);
  if (series.buckets.every((b) => b.total.requests === 0)) {
    return <p className="muted">No cost recorded in this time range.</p>;
  }
  return <Chart option={option} height={280} label="Cost per period, stacked by operation" />;
}

const modelHelper = createColumnHelper<TableFeatures, ModelStats>();
const modelColumns = modelHelper.columns([
  modelHelper.accessor((row) => row.model ?? '(none)', { id: 'model', header: 'Model' }),
  modelHelper.accessor('requests', { header: 'Requests', cell: (info) => formatCount(info.getValue()) }),
  modelHelper.accessor('totalTokens', { header: 'Tokens', cell: (info) => formatCount(info.getValue()) }),
  modelHelper.accessor('costUsd', { header: 'Cost', cell: (info) => formatMoney(info.getValue()) }),
]);

type ProviderRow = ProviderStats & { share: number };
/** Each provider's share of the requests, for its bar. */
const withShares = (rows: ProviderStats[]): ProviderRow[] => {
  const total = rows.reduce((sum, row) => sum + row.requests, 0);
  return rows.map((row) => ({ ...row, share: total === 0 ? 0 : row.requests / total }));
};

const providerHelper = createColumnHelper<TableFeatures, ProviderRow>();
const providerColumns = providerHelper.columns([
  providerHelper.accessor('provider', { header: 'Provider' }),
  providerHelper.accessor('share', {
    header: 'Share of requests',
    cell: (info) => (
      <div className="provider-share">
        <div className="provider-bar" style={{ width: `${Math.round(info.getValue() * 100)}%` }} />
        <span>{formatPercent(info.getValue())}</span>
      </div>
    ),
  }),
  providerHelper.accessor('requests', { header: 'Requests', cell: (info) => formatCount(info.getValue()) }),
  providerHelper.accessor('totalTokens', { header: 'Tokens', cell: (info) => formatCount(info.getValue()) }),
  providerHelper.accessor('costUsd', { header: 'Cost', cell: (info) => formatMoney(info.getValue()) }),
]);
