import { describe, expect, it } from 'vitest';
import { isTimeZone } from './policy-settings.js';
import { bucketStarts } from './time-zones.js';

const iso = (ts: number) => new Date(ts).toISOString();

describe('time buckets', () => {
  it('aligns days to local midnight across a DST change', () => {
    const starts = bucketStarts(
      Date.parse('2026-03-28T12:00:00Z'),
      Date.parse('2026-03-31T00:00:00Z'),
      'day',
      'Europe/Berlin',
    );
    expect(starts.map(iso)).toEqual([
      '2026-03-27T23:00:00.000Z',
      '2026-03-28T23:00:00.000Z',
      '2026-03-29T22:00:00.000Z',
      '2026-03-30T22:00:00.000Z',
    ]);
  });

  it('aligns hours in zones with half-hour offsets', () => {
    const starts = bucketStarts(
      Date.parse('2026-01-01T00:10:00Z'),
      Date.parse('2026-01-01T02:00:00Z'),
      'hour',
      'Asia/Kolkata',
    );
    expect(starts.map(iso)).toEqual([
      '2025-12-31T23:30:00.000Z',
      '2026-01-01T00:30:00.000Z',
      '2026-01-01T01:30:00.000Z',
    ]);
    const days = bucketStarts(
      Date.parse('2026-01-01T00:00:00Z'),
      Date.parse('2026-01-02T00:00:00Z'),
      'day',
      'Asia/Kolkata',
    );
    expect(days.map(iso)).toEqual(['2025-12-31T18:30:00.000Z', '2026-01-01T18:30:00.000Z']);
  });

  it('starts the day after a skipped midnight and knows valid zones', () => {
    // Santiago skips from 00:00 to 01:00 on 2026-09-06.
    const starts = bucketStarts(
      Date.parse('2026-09-06T12:00:00Z'),
      Date.parse('2026-09-06T13:00:00Z'),
      'day',
      'America/Santiago',
    );
    expect(starts.map(iso)).toEqual(['2026-09-06T04:00:00.000Z']);
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
