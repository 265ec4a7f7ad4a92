// The benchmark's report on fixed numbers: rows, ratios to bare, targets, the table and
// latest.json. (Nothing here is timed; the benchmark itself is `npm run bench`.)
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BenchResult,
  buildRows,
  combineRounds,
  formatTable,
  type Measurement,
  percentile,
  ROW_NAMES,
  rowTargets,
  writeResult,
} from '../bench/report.js';

const m = (
  rps: number,
  p50Ms: number,
  p99Ms: number,
  rssMb: number,
  extra: Partial<Measurement> = {},
): Measurement => ({
  rps,
  p50Ms,
  p99Ms,
  rssMb,
  failures: 0,
  ...extra,
});

const measured = {
  direct: m(20_000, 0.7, 2, 60, { oneConnection: { p50Ms: 0.1 } }),
  bare: m(10_000, 1.5, 4, 70, { oneConnection: { p50Ms: 0.2 }, cpuUsPerRequest: 100.04, cpuUsPerRequestMain: 90 }),
  'gateway-no-policy': m(9_200, 1.62, 5, 95, {
    oneConnection: { p50Ms: 0.32 },
    cpuUsPerRequest: 131.26,
    cpuUsPerRequestMain: 99,
  }),
  'gateway-typical': { skipped: 'policy settings not available' },
  'bare-stream': m(5_000, 3, 6, 70, {
    ttfbP50Ms: 2.5,
    ttfbP99Ms: 5,
    oneConnection: { p50Ms: 0.5, ttfbP50Ms: 0.4 },
    cpuUsPerRequest: 200,
    cpuUsPerRequestMain: 180,
  }),
  'gateway-stream': m(4_000, 3.8, 8, 99, {
    ttfbP50Ms: 3.1,
    ttfbP99Ms: 7,
    oneConnection: { p50Ms: 0.9, ttfbP50Ms: 0.7 },
    cpuUsPerRequest: 300,
    cpuUsPerRequestMain: 230,
  }),
  'gateway-redact-stream': m(3_000, 4.5, 9, 99, {
    ttfbP50Ms: 3.3,
    oneConnection: { p50Ms: 1.1, ttfbP50Ms: 0.8 },
    cpuUsPerRequest: 400,
    cpuUsPerRequestMain: 320,
  }),
  'recording-floor': m(9_600, 1.55, 4.5, 80, { oneConnection: { p50Ms: 0.25 }, cpuUsPerRequest: 115 }),
};

function result(): BenchResult {
  const rows = buildRows(measured, { 'gateway-stream': 'typical policy not available' });
  return {
    machine: {
      cpus: 2,
      cpuModel: 'Test CPU',
      memoryMb: 4096,
      node: 'v20.0.0',
      platform: 'linux',
      loadAverage: [1, 1, 1],
    },
    load: {
      tool: 'autocannon',
      connections: 16,
      pipelining: 1,
      durationSec: 10,
      oneConnectionSec: 4,
      warmupSec: 3,
      rounds: 3,
      requestBytes: 305,
      streamChunks: 50,
      quick: false,
    },
    rows,
    checks: rowTargets(rows),
    at: '2026-01-01T00:00:00.000Z',
  };
}

describe('benchmark report', () => {
  it('has one row per name, in order, with ratios and added one-connection p50 against bare', () => {
    const rows = result().rows;
    expect(rows.map((r) => r.name)).toEqual([...ROW_NAMES]);
    const [direct, bare, noPolicy] = rows;
    expect(direct).toMatchObject({ rps: 20_000, ratio_to_bare: 2, added_p50_us: null });
    expect(bare).toMatchObject({
      rps: 10_000,
      ratio_to_bare: 1,
      added_p50_us: 0,
      cpu_us_per_req: 100,
      cpu_us_per_req_main: 90,
    });
    expect(direct?.cpu_us_per_req).toBeNull();
    expect(direct?.cpu_us_per_req_main).toBeNull();
    expect(noPolicy).toMatchObject({
      rps: 9_200,
      p50_ms: 1.62,
      rss_mb: 95,
      cpu_us_per_req: 131.3,
      cpu_us_per_req_main: 99,
      ratio_to_bare: 0.92,
      p50_1conn_ms: 0.32,
      added_p50_us: 120,
    });
  });

  it('compares the recording floor with bare like a gateway row, and checks no target on it', () => {
    const floor = result().rows.at(-1);
    expect(floor).toMatchObject({
      name: 'recording-floor',
      ratio_to_bare: 0.96,
      added_p50_us: 50,
      cpu_us_per_req: 115,
    });
    expect(
      result()
        .checks.map((c) => c.name)
        .join(' '),
    ).not.toContain('floor');
    expect(formatTable(result())).toMatch(/^recording-floor\s+9600\s/m);
  });

  it('keeps a skipped row with nulls and the reason, never a number', () => {
    const typical = result().rows.find((r) => r.name === 'gateway-typical');
    expect(typical).toMatchObject({
      rps: null,
      p50_ms: null,
      ratio_to_bare: null,
      skipped: 'policy settings not available',
    });
  });

  it('compares the stream rows with the same stream through bare (bare-stream), first byte included', () => {
    const rows = result().rows;
    expect(rows.find((r) => r.name === 'bare-stream')).toMatchObject({
      rps: 5_000,
      ratio_to_bare: 1,
      added_p50_us: 0,
      ttfb_p50_ms: 2.5,
      ttfb_p50_1conn_ms: 0.4,
      added_ttfb_ms: 0,
      cpu_us_per_req_main: 180,
    });
    expect(rows.find((r) => r.name === 'gateway-stream')).toMatchObject({
      ratio_to_bare: 0.8,
      added_p50_us: 400,
      ttfb_p50_ms: 3.1,
      ttfb_p50_1conn_ms: 0.7,
      added_ttfb_ms: 0.3,
      note: 'typical policy not available',
    });
    expect(rows.find((r) => r.name === 'gateway-redact-stream')).toMatchObject({
      ratio_to_bare: 0.6,
      added_p50_us: 600,
      added_ttfb_ms: 0.4,
    });
  });

  it('checks the targets: met, missed, and not applicable when skipped', () => {
    const checks = result().checks;
    expect(checks.map((c) => [c.name, c.measured, c.pass])).toEqual([
      ['no-policy CPU per request, request thread', '1.1 x bare', true],
      ['typical-policy CPU per request, request thread', 'skipped: policy settings not available', null],
      ['stream CPU per request, request thread', '1.278 x bare-stream', true],
      ['redacting stream CPU per request, request thread', '1.778 x bare-stream', false],
      ['no-policy CPU per request, all threads', '1.313 x bare', true],
      ['no-policy throughput', '0.92 x bare', true],
      ['typical-policy throughput', 'skipped: policy settings not available', null],
      ['stream throughput', '0.8 x bare-stream', true],
      ['no-policy added p50', '120 us', true],
      ['stream added time to first byte', '0.3 ms', true],
    ]);
    const slow = buildRows({
      ...measured,
      'gateway-no-policy': m(7_000, 1.8, 5, 95, {
        oneConnection: { p50Ms: 0.4 },
        cpuUsPerRequest: 150,
        cpuUsPerRequestMain: 110,
      }),
    });
    expect(
      rowTargets(slow)
        .filter((c) => c.name.startsWith('no-policy'))
        .map((c) => c.pass),
    ).toEqual([false, false, false, false]);
  });

  it('prints the load settings, every row and the verdicts', () => {
    const table = formatTable(result());
    expect(table).toContain(
      '16 connections, pipelining 1, 3 interleaved round(s) of 10 s per row (+ 4 s with 1 connection)',
    );
    expect(table).toMatch(/gateway-no-policy\s+9200\s+1\.620\s+5\.000\s+95\.0\s+131\s+99\s+0\.920\s+0\.320\s+120/);
    expect(table).toMatch(/gateway-typical\s+skipped: policy settings not available/);
    expect(table).toContain('PASS  no-policy throughput: 0.92 x bare (target >= 0.80 x bare)');
    expect(table).toContain(
      'MISS  redacting stream CPU per request, request thread: 1.778 x bare-stream (target <= 1.67 x bare-stream)',
    );
  });

  it('writes latest.json in the shape of the issue', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-report-'));
    try {
      const path = join(dir, 'results', 'latest.json');
      await writeResult(path, result());
      const json = JSON.parse(await readFile(path, 'utf8'));
      expect(Object.keys(json)).toEqual(expect.arrayContaining(['machine', 'load', 'rows']));
      expect(json.rows[1]).toMatchObject({
        name: 'bare',
        rps: 10_000,
        p50_ms: 1.5,
        p99_ms: 4,
        rss_mb: 70,
        ratio_to_bare: 1,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('combines rounds by median, and keeps the worst memory peak', () => {
    const combined = combineRounds([
      m(100, 1, 3, 50, { oneConnection: { p50Ms: 0.3 }, cpuUsPerRequest: 150 }),
      m(300, 2, 9, 80, { oneConnection: { p50Ms: 0.1 }, cpuUsPerRequest: 110 }),
      m(200, 5, 4, 60, { oneConnection: { p50Ms: 0.2 }, cpuUsPerRequest: 120 }),
    ]);
    expect(combined).toMatchObject({
      rps: 200,
      p50Ms: 2,
      p99Ms: 4,
      rssMb: 80,
      cpuUsPerRequest: 120,
      oneConnection: { p50Ms: 0.2 },
    });
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5);
  });
});
