// The window a limit or budget counts in: fixed minutes and hours, and calendar days and
// months in the connection's time zone; `total` never ends.

export type WindowName = 'minute' | 'hour' | 'day' | 'month' | 'total';

export interface Window {
  start: number;
  /** Exclusive; null for `total`. */
  end: number | null;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

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

/** The wall clock in `tz` at an instant, read as if it were UTC. */
function wallAsUtc(ts: number, tz: string): number {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(ts)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0);
}

/** The instant the wall clock in `tz` shows `wall` (read as UTC); the first one across a DST change. */
function instantOf(wall: number, tz: string): number {
  const seconds = (ts: number) => ts - (((ts % 1000) + 1000) % 1000);
  let guess = wall - (wallAsUtc(seconds(wall), tz) - seconds(wall));
  // Once more with the offset at the guess: right on both sides of a DST change.
  guess = wall - (wallAsUtc(seconds(guess), tz) - seconds(guess));
  return guess;
}

/** Windows already worked out, by zone and name: most requests fall in the one before. */
const recent = new Map<string, Window>();

export function windowAt(name: WindowName, now: number, tz: string): Window {
  if (name === 'total') return { start: 0, end: null };
  if (name === 'minute') {
    const start = now - (now % MINUTE_MS);
    return { start, end: start + MINUTE_MS };
  }
  if (name === 'hour') {
    const start = now - (now % HOUR_MS);
    return { start, end: start + HOUR_MS };
  }
  const cacheKey = `${tz}\u0000${name}`;
  const known = recent.get(cacheKey);
  if (known && known.start <= now && known.end !== null && now < known.end) return known;
  const wall = new Date(wallAsUtc(now, tz));
  const y = wall.getUTCFullYear();
  const m = wall.getUTCMonth();
  const window =
    name === 'day'
      ? {
          start: instantOf(Date.UTC(y, m, wall.getUTCDate()), tz),
          end: instantOf(Date.UTC(y, m, wall.getUTCDate() + 1), tz),
        }
      : { start: instantOf(Date.UTC(y, m, 1), tz), end: instantOf(Date.UTC(y, m + 1, 1), tz) };
  if (recent.size > 1000) recent.clear();
  recent.set(cacheKey, window);
  return window;
}
