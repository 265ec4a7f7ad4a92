// Hours, days and months aligned to an IANA time zone, computed with Intl rather than the
// server's own zone, so "today in Europe/Berlin" means the same on every server: the
// stats' buckets and the windows of limits and budgets.
import { HOUR_MS } from './domain.js';

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The date and time the clocks in `tz` show at an instant. */
export function wallClock(ts: number, tz: string): WallClock {
  const parts: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(ts)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

/** The zone's offset from UTC at an instant, in ms. */
function offsetAt(ts: number, tz: string): number {
  const w = wallClock(ts, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (ts - (((ts % 1000) + 1000) % 1000));
}

/**
 * The instant a local day starts: its midnight, the earlier one if it occurs twice, or the
 * first instant of the day when a DST change skips midnight.
 */
export function localDayStart(year: number, month: number, day: number, tz: string): number {
  const guess = Date.UTC(year, month - 1, day);
  const target = new Date(guess);
  const candidates = new Set<number>();
  for (const probe of [guess - 14 * HOUR_MS, guess, guess + 14 * HOUR_MS]) candidates.add(guess - offsetAt(probe, tz));
  const onDay = [...candidates].filter((c) => {
    const w = wallClock(c, tz);
    return w.year === target.getUTCFullYear() && w.month === target.getUTCMonth() + 1 && w.day === target.getUTCDate();
  });
  return onDay.length ? Math.min(...onDay) : guess - offsetAt(guess, tz);
}

/** Start of the local hour or day that contains `ts`. */
export function bucketStart(ts: number, interval: 'hour' | 'day', tz: string): number {
  if (interval === 'hour') {
    const w = wallClock(ts, tz);
    return ts - (((ts % 1000) + 1000) % 1000) - (w.minute * 60 + w.second) * 1000;
  }
  const w = wallClock(ts, tz);
  const start = localDayStart(w.year, w.month, w.day, tz);
  return start <= ts ? start : localDayStart(w.year, w.month, w.day - 1, tz);
}

/** Start of the next local hour or day after the bucket starting at `start`. */
export function nextBucket(start: number, interval: 'hour' | 'day', tz: string): number {
  if (interval === 'hour') return bucketStart(start + HOUR_MS + 1000, 'hour', tz);
  const w = wallClock(start + 12 * HOUR_MS, tz);
  return localDayStart(w.year, w.month, w.day + 1, tz);
}

/** Bucket starts covering [from, to): the first is the start of the bucket holding `from`. */
export function bucketStarts(from: number, to: number, interval: 'hour' | 'day', tz: string): number[] {
  const starts: number[] = [];
  for (let s = bucketStart(from, interval, tz); s < to; s = nextBucket(s, interval, tz)) starts.push(s);
  return starts;
}
