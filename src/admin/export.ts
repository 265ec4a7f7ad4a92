// The request log as CSV (SPEC §4 columns, in order), streamed: records are read in keyset
// pages and written as the reader takes them, so memory stays flat for any size of log.
import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { LogRecord } from '../domain.js';
import type { LogFilter, Store } from '../store/store.js';

export const CSV_COLUMNS = [
  'Timestamp',
  'API Key',
  'Operation',
  'Model',
  'Cost',
  'Latency',
  'Tokens',
  'OpenAI ID',
  'Error',
  'Moderated',
  'IP Address',
  'User Agent',
  'User',
  'Organization',
  'Trace ID',
  'Flags',
] as const;

const PAGE = 500;

// A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, e.g. a
// User-Agent of `=HYPERLINK(…)` sent by anyone); a leading `'` makes it plain text (OWASP's advice).
const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell as a spreadsheet will show it, never run it; numbers are written as they are. */
export const inertCell = (value: string | number | null): string | number => {
  if (value === null) return '';
  return typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value;
};

/** One CSV row; the API key column names the connection (keys themselves are never stored). */
export function csvRow(r: LogRecord): Array<string | number> {
  const cells: Array<string | number | null> = [
    new Date(r.ts).toISOString(),
    r.connectionName ?? r.connectionId ?? '',
    r.operation,
    r.model,
    r.costUsd,
    r.latencyMs,
    r.totalTokens,
    r.upstreamId,
    r.error,
    r.moderated ? 'true' : 'false',
    r.ip,
    r.userAgent,
    r.endUser,
    r.organization,
    r.traceId,
    r.flags.map((f) => `${f.type}: ${f.description}`).join('; '),
  ];
  return cells.map(inertCell);
}

/** Every record matching the filter, newest first, one page in memory at a time. */
async function* matchingRows(store: Store, filter: LogFilter): AsyncGenerator<Array<string | number>> {
  let cursor: string | undefined;
  do {
    // Bodies are no CSV column: left in the database, a page's memory does not grow with them.
    const page = await store.queryLogs(filter, { limit: PAGE, cursor, bodies: false });
    for (const record of page.records) yield csvRow(record);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

/** The CSV as a stream with backpressure: a page is read only when the consumer wants more. */
export function logsCsv(store: Store, filter: LogFilter): Readable {
  const csv = stringify({ header: true, columns: [...CSV_COLUMNS] });
  const rows = Readable.from(matchingRows(store, filter));
  rows.on('error', (err) => csv.destroy(err));
  return rows.pipe(csv);
}
