// The SQLite log writes on their own thread: what the thread commits is what the main
// thread's store reads (records and rollups), refusals come back as errors without
// stopping the thread, and closing lets everything already sent be written first.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import type { LogRecord } from '../domain.js';
import { LogWriterThread } from './log-thread.js';
import { openStore } from './sql-store.js';
import type { Store } from './store.js';

const record = (overrides: Partial<LogRecord> = {}) =>
  logRecord({ id: `req_${randomBytes(8).toString('hex')}`, ...overrides });

describe('LogWriterThread', () => {
  let dir: string;
  let store: Store;
  let thread: LogWriterThread;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'usage-panda-log-thread-'));
    store = await openStore({ dataDir: dir });
    await store.migrate();
    thread = new LogWriterThread(dir);
  });
  afterEach(async () => {
    await thread.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('commits batches the main thread then reads, rollups included', async () => {
    const batch = [record({ endUser: 'alice', costUsd: 0.25 }), record({ endUser: 'alice', costUsd: 0.5 })];
    await thread.insertLogs(batch);
    await thread.insertLogs(batch.slice(0, 1)); // a retried record counts once
    expect((await store.findLog(batch[1]?.id ?? ''))?.costUsd).toBe(0.5);
    const ts = batch[0]?.ts ?? 0;
    const [users] = await store.aggregateLogs({
      boundaries: [ts - 86_400_000 * 3, ts + 86_400_000 * 3],
      groupBy: ['endUser'],
      withEndUser: true,
    });
    expect(users).toMatchObject({ keys: { endUser: 'alice' }, requests: 2, costUsd: 0.75 });
  });

  it("rejects a batch the database refuses with the database's message, and writes the next one", async () => {
    await expect(thread.insertLogs([record({ method: null as unknown as string })])).rejects.toThrow(
      'NOT NULL constraint failed: logs.method',
    );
    const next = record();
    await thread.insertLogs([next]);
    expect(await store.findLog(next.id)).toBeDefined();
  });

  it('writes every batch already sent before it closes', async () => {
    const batches = Array.from({ length: 20 }, () => [record(), record()]);
    const written = Promise.all(batches.map((batch) => thread.insertLogs(batch)));
    await thread.close();
    await written;
    for (const batch of batches) for (const r of batch) expect(await store.findLog(r.id)).toBeDefined();
    // A closed thread starts again for the next batch.
    const later = record();
    await thread.insertLogs([later]);
    expect(await store.findLog(later.id)).toBeDefined();
  });
});
