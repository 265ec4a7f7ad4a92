// CSV export of a large log streams in bounded memory: 200,000 records (inserted through the
// store's bulk path) come out as 200,000 rows while the gateway's heap stays far below the
// size of the file, and a client that stops reading stops the reading of the store.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRequestId } from '../src/exchange.js';
import { logRecord } from './fixtures.js';
import { type Stack, startStack } from './harness.js';

const RECORDS = 200_000;
const BATCH = 5_000;
const MB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

let stack: Stack;
let insertSeconds = 0;
beforeAll(async () => {
  stack = await startStack();
  const base = Date.now() - 86_400_000;
  const started = performance.now();
  for (let start = 0; start < RECORDS; start += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, i) => {
      const ts = base + start + i;
      return logRecord({ id: newRequestId(ts), ts, endUser: `user-${(start + i) % 1000}` });
    });
    await stack.gateway.store.insertLogs(batch);
  }
  insertSeconds = (performance.now() - started) / 1000;
}, 180_000);
afterAll(() => stack?.close());

const exportResponse = () =>
  fetch(`${stack.gateway.url}/api/logs/export.csv`, { headers: { authorization: `Bearer ${stack.adminToken}` } });

describe('CSV export at scale', () => {
  it('streams 200,000 rows with the heap growing by a small fraction of the file', async () => {
    const baseline = heapAfterGc();
    const response = await exportResponse();
    expect(response.status).toBe(200);
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    let bytes = 0;
    let newlines = 0;
    let peak = 0;
    let nextSample = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      for (const byte of value) if (byte === 10) newlines++;
      if (bytes >= nextSample) {
        peak = Math.max(peak, heapAfterGc() - baseline);
        nextSample += 4 * MB;
      }
    }
    // The fixture's fields hold no line breaks: one line per record plus the header.
    expect(newlines - 1).toBe(RECORDS);
    console.log(
      `export: ${RECORDS} rows inserted in ${insertSeconds.toFixed(1)} s; CSV ${(bytes / MB).toFixed(1)} MB, peak heap growth ${(peak / MB).toFixed(1)} MB`,
    );
    expect(bytes).toBeGreaterThan(20 * MB);
    expect(peak).toBeLessThan(16 * MB);
  }, 180_000);

  it('reads no further pages while the client does not read', async () => {
    const store = stack.gateway.store;
    const queryLogs = store.queryLogs.bind(store);
    let pages = 0;
    store.queryLogs = (filter, page) => {
      pages++;
      return queryLogs(filter, page);
    };
    try {
      const response = await exportResponse();
      const reader = response.body?.getReader();
      if (!reader) throw new Error('no body');
      await reader.read();
      // Whatever socket buffers hold is read; then the stream waits for the client.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const whilePaused = pages;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(pages).toBe(whilePaused);
      expect(whilePaused).toBeLessThan(RECORDS / 500 / 4);
      await reader.cancel();
    } finally {
      store.queryLogs = queryLogs;
    }
  });
});
