import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import { postgresStoreTarget } from '../../test/store-targets.js';
import type { LogRecord } from '../domain.js';
import { createLogWriter } from './log-writer.js';
import { Spool } from './spool.js';

/** A store that records batches and can be told to fail or to hold writes. */
function fakeSink() {
  const batches: LogRecord[][] = [];
  let failures = 0;
  let gate: Promise<void> | null = null;
  return {
    batches,
    failNext(times: number) {
      failures = times;
    },
    hold() {
      let release = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = null;
        release();
      };
    },
    async insertLogs(batch: readonly LogRecord[]) {
      if (gate) await gate;
      if (failures > 0) {
        failures--;
        throw new Error('database is busy');
      }
      batches.push([...batch]);
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('log writer', () => {
  it('writes queued records in batches and drains on demand', async () => {
    const sink = fakeSink();
    const writer = createLogWriter(sink, { batchSize: 3, flushIntervalMs: 1000 });
    for (let i = 0; i < 7; i++) writer.enqueue(logRecord());
    await writer.drain();
    expect(sink.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(writer.stats).toMatchObject({ queued: 0, written: 7, dropped: 0, failed: 0 });
  });

  it('flushes a partial batch when the interval has passed, not before, without a drain', async () => {
    vi.useFakeTimers();
    const sink = fakeSink();
    const writer = createLogWriter(sink, { flushIntervalMs: 500 });
    writer.enqueue(logRecord());
    await vi.advanceTimersByTimeAsync(499);
    expect(sink.batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.batches).toHaveLength(1);
  });

  it('drops and counts records beyond the bound while the store is slow', async () => {
    const sink = fakeSink();
    const release = sink.hold();
    const dropped: string[] = [];
    const writer = createLogWriter(sink, { maxQueue: 2, batchSize: 1, onDrop: (r) => dropped.push(r.id) });
    const records = Array.from({ length: 5 }, () => logRecord());
    const accepted = records.map((r) => writer.enqueue(r));
    // The first record is in flight, two wait in the queue, two are dropped.
    expect(accepted).toEqual([true, true, true, false, false]);
    release();
    await writer.drain();
    expect(dropped).toEqual([records[3]?.id, records[4]?.id]);
    expect(writer.stats).toMatchObject({ written: 3, dropped: 2 });
  });

  it('retries a failed batch once, then reports it as failed', async () => {
    const sink = fakeSink();
    const errors: number[] = [];
    const writer = createLogWriter(sink, { onError: (_e, records) => errors.push(records) });
    sink.failNext(1);
    writer.enqueue(logRecord());
    await writer.drain();
    expect(writer.stats).toMatchObject({ written: 1, failed: 0 });
    sink.failNext(2);
    writer.enqueue(logRecord());
    await writer.drain();
    expect(writer.stats).toMatchObject({ written: 1, failed: 1 });
    expect(errors).toEqual([1]);
  });

  it('drops records after close', async () => {
    const sink = fakeSink();
    const writer = createLogWriter(sink);
    writer.enqueue(logRecord());
    await writer.close();
    expect(writer.enqueue(logRecord())).toBe(false);
    expect(sink.batches.flat()).toHaveLength(1);
  });
});

describe('the log writer with a spool (the store away)', () => {
  const spoolDir = async () => mkdtemp(join(tmpdir(), 'usage-panda-log-spool-'));

  it('spools the batches the store refuses, reports it away, and writes them when it answers again', async () => {
    const dir = await spoolDir();
    const sink = fakeSink();
    const states: boolean[] = [];
    const spool = await Spool.open<LogRecord>(dir);
    const writer = createLogWriter(sink, { spool, retryMs: 20, onStoreState: (up) => states.push(up) });
    sink.failNext(1_000);
    for (let i = 0; i < 5; i++) writer.enqueue(logRecord({ id: `req_${i}` }));
    await writer.drain();
    expect(writer.stats).toMatchObject({ storeAvailable: false, spooled: 5, failed: 0, written: 0 });
    sink.failNext(0);
    await vi.waitFor(() => expect(writer.stats.storeAvailable).toBe(true));
    expect(sink.batches.flat().map((r) => r.id)).toEqual(['req_0', 'req_1', 'req_2', 'req_3', 'req_4']);
    expect(writer.stats).toMatchObject({ spooled: 0, written: 5 });
    expect(states).toEqual([false, true]);
    await writer.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts what is dropped past the spool’s size, and writes what a previous run left at start', async () => {
    const dir = await spoolDir();
    const sink = fakeSink();
    sink.failNext(1_000);
    const small = await Spool.open<LogRecord>(dir, { maxBytes: 4096 });
    const first = createLogWriter(sink, { spool: small, retryMs: 60_000 });
    for (let i = 0; i < 100; i++) first.enqueue(logRecord({ id: `req_${i}` }));
    await first.drain();
    expect(first.stats.dropped).toBeGreaterThan(0);
    expect(first.stats.spooled + first.stats.dropped).toBe(100);
    const kept = first.stats.spooled;
    await first.close();

    sink.failNext(0);
    const again = createLogWriter(sink, { spool: await Spool.open<LogRecord>(dir, { maxBytes: 4096 }), retryMs: 20 });
    await vi.waitFor(() => expect(sink.batches.flat()).toHaveLength(kept));
    await again.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('log writer on PostgreSQL, two batches at a time', () => {
  const target = postgresStoreTarget();
  afterEach(() => target.cleanup());

  it('writes two batches at once, every record once, with rollups equal to their sum, and no batch fails on a lock', async () => {
    const store = await target.open();
    // The real store, counting how many batches it is writing at once.
    let writing = 0;
    let mostAtOnce = 0;
    const counted = {
      insertLogs: async (batch: readonly LogRecord[]) => {
        mostAtOnce = Math.max(mostAtOnce, ++writing);
        try {
          await store.insertLogs(batch);
        } finally {
          writing--;
        }
      },
    };
    const writer = createLogWriter(counted, { batchSize: 500, concurrency: 2, flushIntervalMs: 0 });
    const hour = Date.UTC(2026, 5, 1, 10);
    // Few keys, so concurrent batches add to the same rollup rows all the time.
    const records = Array.from({ length: 6_000 }, (_, i) =>
      logRecord({
        ts: hour + (i % 7_200_000),
        connectionId: `conn_${i % 3}`,
        model: `model-${i % 2}`,
        endUser: `user-${i % 5}`,
      }),
    );
    for (const record of records) writer.enqueue(record);
    await writer.drain();
    expect(writer.stats).toMatchObject({ written: 6_000, failed: 0, dropped: 0 });
    expect(mostAtOnce).toBe(2);
    const rows = await store.aggregateLogs({ boundaries: [hour, hour + 3 * 3_600_000], groupBy: ['connectionId'] });
    expect(Object.fromEntries(rows.map((r) => [r.keys.connectionId, r.requests]))).toEqual({
      conn_0: 2_000,
      conn_1: 2_000,
      conn_2: 2_000,
    });
    const { count } = (await store.db
      .selectFrom('logs')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow()) as { count: number };
    expect(Number(count)).toBe(6_000);
    await writer.close();
    await store.close();
  });
});
