// The benchmark's result: rows measured side by side, their ratios to the bare
// pass-through, the targets of issues 6 and 17 checked against them, and the two forms it
// is shown in (a table for people, bench/results/latest.json for comparing runs).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The rows of issue 6, then `recording-floor`: bare plus parsing and recording, the reference that shows what
 * recording alone costs; `gateway-limits` (-redis) is the typical policy plus a per-user request limit and a
 * connection budget (issue 13), counted in-process and in Redis. The stream rows compare with `bare-stream`, the
 * same stream through the bare proxy; `gateway-redact-stream` redacts a response wordlist on it (issue 17).
 */
export const ROW_NAMES = [
  'direct',
  'bare',
  'gateway-no-policy',
  'gateway-typical',
  'gateway-limits',
  'gateway-limits-redis',
  'bare-stream',
  'gateway-stream',
  'gateway-redact-stream',
  'recording-floor',
] as const;
export type RowName = (typeof ROW_NAMES)[number];

/** Rows answered with a stream, compared with `bare-stream` instead of `bare`. */
const STREAM_ROWS: ReadonlySet<RowName> = new Set(['bare-stream', 'gateway-stream', 'gateway-redact-stream']);
export const isStreamRow = (name: RowName) => STREAM_ROWS.has(name);

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryMb: number;
  node: string;
  platform: string;
  /** 1, 5 and 15 minute load averages when the run ended: other work on the machine skews every row. */
  loadAverage: number[];
}

export interface LoadSettings {
  tool: string;
  connections: number;
  pipelining: number;
  durationSec: number;
  /** Seconds of the one-connection pass after each loaded run. */
  oneConnectionSec: number;
  warmupSec: number;
  rounds: number;
  requestBytes: number;
  streamChunks: number;
  quick: boolean;
}

/** What one run against one target measured. */
export interface Measurement {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
  /** CPU time (user and system, all threads) of the process under test per completed request under load. */
  cpuUsPerRequest?: number;
  /** The same, of its main thread only: the thread that serves the requests. */
  cpuUsPerRequestMain?: number;
  /** Streams only: time to the first byte of the answer. */
  ttfbP50Ms?: number;
  ttfbP99Ms?: number;
  /** Requests that failed or answered other than 2xx. */
  failures: number;
  /** The same request from one connection at a time: the per-request cost without queueing. */
  oneConnection?: { p50Ms: number; ttfbP50Ms?: number };
}

/** A row of latest.json; nulls and `skipped` when the row could not be measured. */
export interface Row {
  name: RowName;
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  rss_mb: number | null;
  /** CPU of the process under test per request under load, in µs, all its threads: what the row costs the machine. */
  cpu_us_per_req: number | null;
  /** The same, of its request (main) thread only: what bounds its throughput where other cores are free. */
  cpu_us_per_req_main: number | null;
  ratio_to_bare: number | null;
  /** p50 with one connection (no queueing); `added_p50_us` compares these. */
  p50_1conn_ms: number | null;
  added_p50_us: number | null;
  failures: number;
  skipped?: string;
  note?: string;
  ttfb_p50_ms?: number | null;
  ttfb_p99_ms?: number | null;
  ttfb_p50_1conn_ms?: number | null;
  added_ttfb_ms?: number | null;
}

export interface CheckResult {
  name: string;
  target: string;
  measured: string;
  pass: boolean | null;
  details?: Record<string, unknown>;
}

export interface BenchResult {
  machine: Machine;
  load: LoadSettings;
  rows: Row[];
  checks: CheckResult[];
  at: string;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile of unsorted samples; `p` in 0..100. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** The median of each figure over the rounds, so one disturbed round does not decide. */
export function combineRounds(rounds: readonly Measurement[]): Measurement {
  const pick = (f: (m: Measurement) => number | undefined) => {
    const values = rounds.map(f).filter((v): v is number => v !== undefined);
    return values.length > 0 ? median(values) : undefined;
  };
  const combined: Measurement = {
    rps: pick((m) => m.rps) ?? 0,
    p50Ms: pick((m) => m.p50Ms) ?? 0,
    p99Ms: pick((m) => m.p99Ms) ?? 0,
    // Peak memory is the worst round, not the typical one.
    rssMb: Math.max(0, ...rounds.map((m) => m.rssMb)),
    cpuUsPerRequest: pick((m) => m.cpuUsPerRequest),
    cpuUsPerRequestMain: pick((m) => m.cpuUsPerRequestMain),
    ttfbP50Ms: pick((m) => m.ttfbP50Ms),
    ttfbP99Ms: pick((m) => m.ttfbP99Ms),
    failures: rounds.reduce((sum, m) => sum + m.failures, 0),
  };
  const oneP50 = pick((m) => m.oneConnection?.p50Ms);
  if (oneP50 !== undefined)
    combined.oneConnection = { p50Ms: oneP50, ttfbP50Ms: pick((m) => m.oneConnection?.ttfbP50Ms) };
  return combined;
}

const round = (value: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

export type Measured = Partial<Record<RowName, Measurement | { skipped: string }>>;

const isSkipped = (m: Measurement | { skipped: string } | undefined): m is { skipped: string } =>
  m !== undefined && 'skipped' in m;

/** The figures the added costs compare: one connection when measured, else under load. */
const p50 = (m: Measurement) => m.oneConnection?.p50Ms ?? m.p50Ms;
const ttfb = (m: Measurement) => m.oneConnection?.ttfbP50Ms ?? m.ttfbP50Ms;

/**
 * Builds the rows of latest.json. Every gateway row is compared with the bare proxy on
 * the same request: the JSON rows with `bare`, the stream rows with the same stream
 * through the bare proxy (`bare-stream`).
 */
export function buildRows(measured: Measured, notes: Partial<Record<RowName, string>> = {}): Row[] {
  const bare = measured.bare;
  const bareStream = measured['bare-stream'];
  return ROW_NAMES.map((name): Row => {
    const m = measured[name];
    const empty: Row = {
      name,
      rps: null,
      p50_ms: null,
      p99_ms: null,
      rss_mb: null,
      cpu_us_per_req: null,
      cpu_us_per_req_main: null,
      ratio_to_bare: null,
      p50_1conn_ms: null,
      added_p50_us: null,
      failures: 0,
    };
    if (notes[name]) empty.note = notes[name];
    if (m === undefined) return { ...empty, skipped: 'not measured' };
    if (isSkipped(m)) return { ...empty, skipped: m.skipped };
    const reference = isStreamRow(name) ? bareStream : bare;
    const ref = reference && !isSkipped(reference) ? reference : undefined;
    const row: Row = {
      ...empty,
      rps: round(m.rps, 1),
      p50_ms: round(m.p50Ms, 3),
      p99_ms: round(m.p99Ms, 3),
      rss_mb: round(m.rssMb, 1),
      cpu_us_per_req: m.cpuUsPerRequest === undefined ? null : round(m.cpuUsPerRequest, 1),
      cpu_us_per_req_main: m.cpuUsPerRequestMain === undefined ? null : round(m.cpuUsPerRequestMain, 1),
      ratio_to_bare: ref && ref.rps > 0 ? round(m.rps / ref.rps, 3) : null,
      p50_1conn_ms: m.oneConnection ? round(m.oneConnection.p50Ms, 3) : null,
      added_p50_us: ref && name !== 'direct' && name !== 'bare' ? Math.round((p50(m) - p50(ref)) * 1000) : null,
      failures: m.failures,
    };
    if (name === 'bare' || name === 'bare-stream') row.added_p50_us = 0;
    if (isStreamRow(name)) {
      row.ttfb_p50_ms = m.ttfbP50Ms === undefined ? null : round(m.ttfbP50Ms, 3);
      row.ttfb_p99_ms = m.ttfbP99Ms === undefined ? null : round(m.ttfbP99Ms, 3);
      row.ttfb_p50_1conn_ms = m.oneConnection?.ttfbP50Ms === undefined ? null : round(m.oneConnection.ttfbP50Ms, 3);
      if (ref) {
        const mine = ttfb(m);
        const theirs = ttfb(ref);
        row.added_ttfb_ms = mine !== undefined && theirs !== undefined ? round(mine - theirs, 3) : null;
      }
    }
    return row;
  });
}

type CpuField = 'cpu_us_per_req' | 'cpu_us_per_req_main';

/** A row's figure as a multiple of its reference row's, or null when either is missing. */
function ratioOf(row: Row | undefined, ref: Row | undefined, field: CpuField | 'rps'): number | null {
  const mine = row && !row.skipped ? row[field] : null;
  const theirs = ref && !ref.skipped ? ref[field] : null;
  return mine === null || theirs === null || theirs <= 0 ? null : round(mine / theirs, 3);
}

/**
 * The targets the rows alone decide: issue 17's CPU per request (of the request thread, and
 * of all threads) and throughput against the bare proxy, issue 6's latencies, issue 13's limits.
 */
export function rowTargets(rows: readonly Row[]): CheckResult[] {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const checks: CheckResult[] = [];
  const fmt = (v: number | null | undefined, unit: string) => (v === null || v === undefined ? 'n/a' : `${v}${unit}`);
  const at = (name: RowName) => byName.get(name);
  const skippedWhy = (name: RowName) => {
    const row = at(name);
    return !row ? 'not measured' : row.skipped;
  };

  const cpu = (name: RowName, ref: 'bare' | 'bare-stream', field: CpuField, limit: number, what: string) => {
    const ratio = ratioOf(at(name), at(ref), field);
    const why = skippedWhy(name) ?? skippedWhy(ref);
    checks.push({
      name: `${what} CPU per request, ${field === 'cpu_us_per_req_main' ? 'request thread' : 'all threads'}`,
      target: `<= ${limit} x ${ref}`,
      measured: why ? `skipped: ${why}` : fmt(ratio, ` x ${ref}`),
      pass: ratio === null ? null : ratio <= limit,
    });
  };
  cpu('gateway-no-policy', 'bare', 'cpu_us_per_req_main', 1.11, 'no-policy');
  cpu('gateway-typical', 'bare', 'cpu_us_per_req_main', 1.25, 'typical-policy');
  cpu('gateway-stream', 'bare-stream', 'cpu_us_per_req_main', 1.33, 'stream');
  cpu('gateway-redact-stream', 'bare-stream', 'cpu_us_per_req_main', 1.67, 'redacting stream');
  cpu('gateway-no-policy', 'bare', 'cpu_us_per_req', 1.4, 'no-policy');

  const throughput = (name: RowName, limit: number, what: string) => {
    const row = at(name);
    const ref = isStreamRow(name) ? 'bare-stream' : 'bare';
    const why = skippedWhy(name);
    checks.push({
      name: `${what} throughput`,
      target: `>= ${limit.toFixed(2)} x ${ref}`,
      measured: why ? `skipped: ${why}` : fmt(row?.ratio_to_bare, ` x ${ref}`),
      pass: why || row?.ratio_to_bare === null || row?.ratio_to_bare === undefined ? null : row.ratio_to_bare >= limit,
    });
  };
  throughput('gateway-no-policy', 0.8, 'no-policy');
  throughput('gateway-typical', 0.75, 'typical-policy');
  throughput('gateway-stream', 0.7, 'stream');

  const noPolicy = at('gateway-no-policy');
  if (noPolicy && !noPolicy.skipped) {
    checks.push({
      name: 'no-policy added p50',
      target: '<= 150 us over bare',
      measured: fmt(noPolicy.added_p50_us, ' us'),
      pass: noPolicy.added_p50_us === null ? null : noPolicy.added_p50_us <= 150,
    });
  }
  const limits = at('gateway-limits');
  const typical = at('gateway-typical');
  const limitsRatio = ratioOf(limits, typical, 'rps');
  if (limitsRatio !== null) {
    checks.push({
      name: 'limits throughput (in-process state)',
      target: '>= 0.90 x gateway-typical',
      measured: `${limitsRatio} x gateway-typical`,
      pass: limitsRatio >= 0.9,
    });
  }
  const stream = at('gateway-stream');
  if (stream && !stream.skipped) {
    checks.push({
      name: 'stream added time to first byte',
      target: '<= 1 ms over bare-stream',
      measured: fmt(stream.added_ttfb_ms, ' ms'),
      pass: stream.added_ttfb_ms === null || stream.added_ttfb_ms === undefined ? null : stream.added_ttfb_ms <= 1,
    });
  }
  return checks;
}

const num = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '-' : v.toFixed(digits));

function pad(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
}

/** The table printed at the end of a run. */
export function formatTable(result: BenchResult): string {
  const head = [
    'row',
    'req/s',
    'p50 ms',
    'p99 ms',
    'RSS MB',
    'CPU us',
    'main us',
    'x bare',
    'p50 1c',
    '+p50 us',
    'ttfb 1c',
    '+ttfb ms',
  ];
  const body = result.rows.map((r) =>
    r.skipped
      ? [r.name, `skipped: ${r.skipped}`]
      : [
          r.name,
          num(r.rps, 0),
          num(r.p50_ms, 3),
          num(r.p99_ms, 3),
          num(r.rss_mb, 1),
          num(r.cpu_us_per_req, 0),
          num(r.cpu_us_per_req_main, 0),
          num(r.ratio_to_bare, 3),
          num(r.p50_1conn_ms, 3),
          r.added_p50_us === null ? '-' : String(r.added_p50_us),
          num(r.ttfb_p50_1conn_ms, 3),
          num(r.added_ttfb_ms, 3),
        ],
  );
  const measured = body.filter((b) => !b[1]?.startsWith('skipped'));
  const widths = head.map((h, i) => Math.max(h.length, ...measured.map((b) => (b[i] ?? '').length)));
  const lines = [pad(head, widths), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const b of body) {
    const skipped = b[1]?.startsWith('skipped');
    lines.push(skipped ? `${(b[0] ?? '').padEnd(widths[0] ?? 0)}  ${b[1]}` : pad(b, widths));
  }
  const l = result.load;
  const m = result.machine;
  const notes = result.rows.filter((r) => r.note).map((r) => `  ${r.name}: ${r.note}`);
  return [
    `machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryMb} MB, node ${m.node}, ${m.platform}, load average ${m.loadAverage.map((v) => v.toFixed(2)).join(' ')}`,
    `load: ${l.tool}, ${l.connections} connections, pipelining ${l.pipelining}, ${l.rounds} interleaved round(s) of ` +
      `${l.durationSec} s per row (+ ${l.oneConnectionSec} s with 1 connection) after ${l.warmupSec} s warm-up, ` +
      `${l.requestBytes}-byte chat request` +
      `${l.quick ? ' (--quick)' : ''}; medians over rounds`,
    '',
    ...lines,
    '',
    'req/s, p50, p99: under the load above. p50 1c, ttfb 1c: one connection at a time (no queueing);',
    '+p50 us and +ttfb ms compare those one-connection figures, i.e. what the gateway adds to each request.',
    'recording-floor is bare plus JSON parsing of request and answer and one log record per request through the',
    "gateway's own log writer and SQLite store: what the gateway costs above it is its request handling.",
    'RSS is the peak of the process under test (mock for direct, bare proxy for bare and recording-floor, the gateway otherwise);',
    'CPU us is its CPU time (user + system, all threads) per request under load: the machine is shared, so it explains x bare;',
    'main us is the same for its main thread alone, the one that serves requests (the gateway records in a worker thread).',
    `x bare / +p50: JSON rows against bare; the stream rows (${l.streamChunks}-chunk SSE) against bare-stream, the same stream through bare.`,
    ...(notes.length > 0 ? ['notes:', ...notes] : []),
    '',
    formatChecks(result.checks),
  ].join('\n');
}

export function formatChecks(checks: readonly CheckResult[]): string {
  const verdict = (pass: boolean | null) => (pass === null ? 'n/a ' : pass ? 'PASS' : 'MISS');
  return ['targets:', ...checks.map((c) => `  ${verdict(c.pass)}  ${c.name}: ${c.measured} (target ${c.target})`)].join(
    '\n',
  );
}

export async function writeResult(path: string, result: BenchResult): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
}
