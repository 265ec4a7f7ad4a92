// How numbers and times read everywhere: money in USD, counts with separators, durations
// in ms or s, and times in the browser's own time zone.

const usdCents = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' });
// Single requests often cost a fraction of a cent; show enough digits to see it.
const usdSmall = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 2,
  maximumSignificantDigits: 3,
  roundingPriority: 'morePrecision',
} as Intl.NumberFormatOptions);
const count = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const dayOnly = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const hourOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

export const DASH = '—';

export function formatMoney(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return DASH;
  return Math.abs(usd) >= 1 || usd === 0 ? usdCents.format(usd) : usdSmall.format(usd);
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? DASH : count.format(n);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return DASH;
  if (ms < 1000) return `${count.format(Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatPercent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? DASH : percent.format(ratio);
}

export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return DASH;
  return dateTime.format(new Date(value));
}

export const formatDay = (value: string | number) => dayOnly.format(new Date(value));
export const formatHour = (value: string | number) => hourOnly.format(new Date(value));

/** The browser's IANA zone, sent as `tz` so day buckets match the person's days. */
export const browserTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
