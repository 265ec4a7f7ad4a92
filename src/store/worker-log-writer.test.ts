import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { openStore, type SqlStore } from './sql-store.js';
import { startWorkerLogWriter } from './worker-log-writer.js';

let dataDir = '';
afterEach(() => rm(dataDir, { recursive: true, force: true }));

async function migratedStore() {
  dataDir = await mkdtemp(join(tmpdir(), 'usage-panda-worker-'));
  const store = (await openStore({ dataDir })) as SqlStore;
  await store.migrate();
  return store;
}

describe('worker log writer', () => {
  it('writes records and their rollups in the worker, readable through the request thread store once drained', async () => {
    const store = await migratedStore();
    const writer = await startWorkerLogWriter({ store: { dataDir } });
    const records = Array.from({ length: 250 }, () => logRecord({ endUser: 'u1' }));
    for (const record of records) expect(writer.enqueue(record)).toBe(true);
    await writer.drain();
    expect(writer.stats).toMatchObject({ queued: 0, written: 250, dropped: 0, failed: 0 });
    const page = await store.queryLogs({}, { limit: 500 });
    expect(page.records.map((r) => r.id).sort()).toEqual(records.map((r) => r.id).sort());
    const [sum] = await store.aggregateLogs({ boundaries: [0, Date.now() + 3_600_000], groupBy: [] });
    expect(sum?.requests).toBe(250);
    await writer.close();
    await store.close();
  });

  it("slides the end users' windows to the current minute when it starts, and the users table reads them", async () => {
    const store = await migratedStore();
    const started = Date.now();
    const earlier = started - 2 * 3_600_000;
    const records = [logRecord({ ts: earlier, endUser: 'u1' }), logRecord({ ts: earlier + 1, endUser: 'u2' })];
    await store.insertLogs(records);
    const writer = await startWorkerLogWriter({ store: { dataDir } });
    await writer.drain();
    const { end } = JSON.parse((await store.getSetting('user_windows_as_of')) ?? '{}') as { end: number };
    expect(end % 60_000).toBe(0);
    expect(end).toBeGreaterThan(started - 60_000);
    expect(end).toBeLessThanOrEqual(Date.now());
    const windows = await store.db.selectFrom('logUserWindows').select(['spanHours', 'endUser']).execute();
    expect(
      windows
        .filter((w) => w.spanHours === 24)
        .map((w) => w.endUser)
        .sort(),
    ).toEqual(['u1', 'u2']);
    const now = Date.now();
    const users = await store.aggregateLogs({
      boundaries: [now - 24 * 3_600_000, now],
      groupBy: ['endUser', 'connectionId'],
      withEndUser: true,
      top: { by: 'requests', limit: 5 },
    });
    expect(users.map((u) => u.keys.endUser).sort()).toEqual(['u1', 'u2']);
    await writer.close();
    await store.close();
  });

  it('writes everything on close, then drops and counts later records', async () => {
    const store = await migratedStore();
    const dropped: string[] = [];
    const writer = await startWorkerLogWriter({ store: { dataDir }, onDrop: (r) => dropped.push(r.id) });
    const record = logRecord();
    writer.enqueue(record);
    await writer.close();
    expect((await store.findLog(record.id))?.id).toBe(record.id);
    const late = logRecord();
    expect(writer.enqueue(late)).toBe(false);
    expect(dropped).toEqual([late.id]);
    expect(writer.stats).toMatchObject({ written: 1, dropped: 1 });
    await store.close();
  });

  it('refuses to start when the worker cannot open the store', async () => {
    await expect(
      startWorkerLogWriter({ store: { dataDir: '/nonexistent/usage-panda', databaseUrl: null } }),
    ).rejects.toThrow(/log worker could not open the store/);
  });
});
