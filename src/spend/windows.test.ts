import { describe, expect, it } from 'vitest';
import { windowAt } from './windows.js';

describe('windowAt', () => {
  it('starts minutes and hours on the clock', () => {
    const now = Date.UTC(2026, 10, 29, 23, 14, 30, 500);
    expect(windowAt('minute', now, 'UTC')).toEqual({
      start: Date.UTC(2026, 10, 29, 23, 14),
      end: Date.UTC(2026, 10, 29, 23, 15),
    });
    expect(windowAt('hour', now, 'UTC')).toEqual({ start: Date.UTC(2026, 10, 29, 23), end: Date.UTC(2026, 10, 30, 0) });
  });

  it('takes days and months as the calendar of the time zone', () => {
    const now = Date.UTC(2026, 10, 29, 23, 30); // already Nov 30 in Berlin (UTC+1)
    expect(windowAt('day', now, 'UTC')).toEqual({ start: Date.UTC(2026, 10, 29), end: Date.UTC(2026, 10, 30) });
    expect(windowAt('day', now, 'Europe/Berlin')).toEqual({
      start: Date.UTC(2026, 10, 29, 23),
      end: Date.UTC(2026, 10, 30, 23),
    });
    expect(windowAt('month', now, 'America/New_York')).toEqual({
      start: Date.UTC(2026, 10, 1, 4), // EDT until Nov 1, 2 a.m.
      end: Date.UTC(2026, 11, 1, 5),
    });
  });

  it('gives a day that loses an hour to DST its 23 hours', () => {
    const now = Date.UTC(2026, 2, 29, 12); // Europe: clocks go forward at 01:00 UTC
    const day = windowAt('day', now, 'Europe/Berlin');
    expect(day).toEqual({ start: Date.UTC(2026, 2, 28, 23), end: Date.UTC(2026, 2, 29, 22) });
  });

  it('never ends a total', () => {
    expect(windowAt('total', 5, 'UTC')).toEqual({ start: 0, end: null });
  });
});
