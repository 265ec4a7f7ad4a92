// CSV export through the admin API and the CLI: SPEC §4 columns in order, the /api/logs
// filters, paging through more records than one page, and quoting that survives commas,
// quotes and newlines — checked by parsing the file back with csv-parse.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../src/domain.js';
import { requestIdPrefix } from '../src/domain.js';
import { logRecord } from './fixtures.js';
import { type Stack, startStack } from './harness.js';

let stack: Stack;
// SPEC §4, written out here so a change to the code's column list cannot pass unnoticed.
const HEADER = [
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
];
const BASE = Date.UTC(2026, 0, 5, 12);
const tricky = logRecord({
  id: 'req_0000000000tricky',
  ts: BASE + 5000,
  connectionId: 'conn_csv',
  connectionName: 'csv, "the" connection',
  userAgent: 'Agent/1.0 (comma, "quote")\nsecond line',
  endUser: 'user, with "quotes"\r\nand CRLF',
  flags: [
    { type: 'wordlist_custom', description: 'matched "bad, word"' },
    { type: 'policy_max_tokens', description: 'line one\nline two' },
  ],
  moderated: true,
  costUsd: 0.00125,
  error: 'upstream said "no", twice',
  traceId: 'trace-1',
});
const bulk: LogRecord[] = Array.from({ length: 1203 }, (_, i) =>
  // Ids begin with their time, as the gateway's do (a time range is read as an id range).
  logRecord({
    id: `${requestIdPrefix(BASE + i)}bulk${String(i).padStart(5, '0')}`,
    ts: BASE + i,
    connectionId: 'conn_bulk',
    costUsd: null,
  }),
);

beforeAll(async () => {
  stack = await startStack();
  await stack.gateway.store.insertLogs([tricky, ...bulk]);
});
afterAll(() => stack?.close());

const exportCsv = async (query: string) => {
  const response = await fetch(`${stack.gateway.url}/api/logs/export.csv?${query}`, {
    headers: { authorization: `Bearer ${stack.adminToken}` },
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};

const expectedRow = (r: LogRecord) => [
  new Date(r.ts).toISOString(),
  r.connectionName ?? '',
  r.operation,
  r.model ?? '',
  r.costUsd === null ? '' : String(r.costUsd),
  String(r.latencyMs),
  r.totalTokens === null ? '' : String(r.totalTokens),
  r.upstreamId ?? '',
  r.error ?? '',
  String(r.moderated),
  r.ip ?? '',
  r.userAgent ?? '',
  r.endUser ?? '',
  r.organization ?? '',
  r.traceId ?? '',
  r.flags.map((f) => `${f.type}: ${f.description}`).join('; '),
];

describe('CSV export', () => {
  it('writes the SPEC §4 columns in order and values that parse back exactly', async () => {
    const { status, type, text } = await exportCsv('connection=conn_csv');
    expect(status).toBe(200);
    expect(type).toBe('text/csv; charset=utf-8');
    const rows: string[][] = parse(text);
    expect(rows[0]).toEqual(HEADER);
    expect(rows.slice(1)).toEqual([expectedRow(tricky)]);
  });

  it('pages through every matching record, newest first, honouring the filters', async () => {
    const all = parse((await exportCsv('connection=conn_bulk')).text) as string[][];
    expect(all).toHaveLength(bulk.length + 1);
    expect(all[1]).toEqual(expectedRow(bulk.at(-1) as LogRecord));
    expect(all.at(-1)).toEqual(expectedRow(bulk[0] as LogRecord));

    const window = parse((await exportCsv(`connection=conn_bulk&from=${BASE + 10}&to=${BASE + 20}`)).text);
    expect(window).toHaveLength(11);
    const flagged = parse((await exportCsv('flag=wordlist_custom&error=true')).text);
    expect(flagged).toHaveLength(2);
  });

  it('writes a cell that a spreadsheet would run as a formula as text, with a leading quote', async () => {
    const { id, key } = await stack.createConnection();
    const response = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'x-usagepanda-api-key': key,
        authorization: 'Bearer sk-test-formula',
        'content-type': 'application/json',
        'user-agent': '=HYPERLINK("http://x","y")',
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], user: '@SUM(1)' }),
    });
    expect(response.status).toBe(200);
    await stack.record(response.headers.get('x-usagepanda-request-id'));
    await stack.gateway.store.insertLogs(
      ['+1+1', '-2+3', '\tcmd', '\rcmd', 'a=1'].map((endUser, i) =>
        logRecord({ id: `req_formula_${i}`, ts: BASE + 10_000 + i, connectionId: id, endUser, userAgent: null }),
      ),
    );

    const rows: string[][] = parse((await exportCsv(`connection=${id}`)).text);
    // Rows come newest id first; the cells are compared as sets so only the quoting is asserted.
    const column = (name: string) =>
      rows
        .slice(1)
        .map((row) => row[HEADER.indexOf(name)] ?? '')
        .sort();
    expect(column('User Agent')).toEqual(['', '', '', '', '', '\'=HYPERLINK("http://x","y")']);
    expect(column('User')).toEqual(["'+1+1", "'-2+3", "'@SUM(1)", "'\rcmd", "'\tcmd", 'a=1'].sort());
  });

  it('answers 400 for a bad filter', async () => {
    const { status, text } = await exportCsv('operation=painting');
    expect(status).toBe(400);
    expect(JSON.parse(text).error.message).toMatch(/^Usage Panda: operation: /);
  });

  it('writes the same file from the command line', { timeout: 120_000 }, async () => {
    const file = join(stack.dataDir, 'export.csv');
    const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', cli, 'export', '--csv', file, '--data', stack.dataDir, '--connection', 'conn_csv'],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rows = parse(await readFile(file, 'utf8'));
    expect(rows).toEqual([HEADER, expectedRow(tricky)]);
  });
});
