// The connection filter and time range every page shares, kept in the URL's hash.
import { browserTimeZone } from './format';
import { useRoute } from './router';

export const RANGES = [
  { id: '24h', label: 'Last 24 hours', ms: 24 * 3600_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 24 * 3600_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 24 * 3600_000 },
  { id: 'custom', label: 'Custom', ms: 0 },
] as const;
export type RangeId = (typeof RANGES)[number]['id'];

export interface Filters {
  connection: string | null;
  range: RangeId;
  /** Custom range bounds as datetime-local values (browser zone). */
  customFrom: string;
  customTo: string;
  /** A stable key for queries: changes only when the person changes a filter. */
  key: string;
  /** `connection`, `from`, `to`, `tz` for the API, with "now" read at call time. */
  apiQuery(): { connection?: string; from: number; to: number; tz: string };
}

export function useFilters(): Filters & { set(changes: Record<string, string | null>): void } {
  const { params, setParams } = useRoute();
  const rangeParam = params.get('range');
  const range: RangeId = RANGES.some((r) => r.id === rangeParam) ? (rangeParam as RangeId) : '24h';
  const connection = params.get('connection');
  const customFrom = params.get('from') ?? '';
  const customTo = params.get('to') ?? '';
  return {
    connection,
    range,
    customFrom,
    customTo,
    key: [connection, range, customFrom, customTo].join('|'),
    apiQuery() {
      const now = Date.now();
      const preset = RANGES.find((r) => r.id === range);
      let from = now - (preset?.ms || RANGES[0].ms);
      let to = now;
      if (range === 'custom') {
        const parsedFrom = Date.parse(customFrom);
        const parsedTo = Date.parse(customTo);
        if (Number.isFinite(parsedFrom)) from = parsedFrom;
        if (Number.isFinite(parsedTo)) to = parsedTo;
      }
      return { ...(connection ? { connection } : {}), from, to, tz: browserTimeZone() };
    },
    set: setParams,
  };
}
