// The window a limit or budget counts in: fixed minutes and hours, and calendar days and
// months in the connection's time zone; `total` never ends.
import { HOUR_MS } from '../domain.js';
import { bucketStart, localDayStart, nextBucket, wallClock } from '../time-zones.js';

export type WindowName = 'minute' | 'hour' | 'day' | 'month' | 'total';

export interface Window {
  start: number;
  /** Exclusive; null for `total`. */
  end: number | null;
}

const MINUTE_MS = 60_000;

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
  const wall = wallClock(now, tz);
  let window: Window;
  if (name === 'day') {
    const start = bucketStart(now, 'day', tz);
    window = { start, end: nextBucket(start, 'day', tz) };
  } else {
    window = {
      start: localDayStart(wall.year, wall.month, 1, tz),
      end: localDayStart(wall.year, wall.month + 1, 1, tz),
    };
  }
  if (recent.size > 1000) recent.clear();
  recent.set(cacheKey, window);
  return window;
}
