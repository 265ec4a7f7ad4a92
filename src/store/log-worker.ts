// The log worker thread: its own store connection (SQLite file or PostgreSQL pool), fed
// batches of records by the request thread (see worker-log-writer.ts), writing them and
// their rollups with the same log writer the gateway used in process.
import { parentPort, workerData } from 'node:worker_threads';
import type { LogRecord } from '../domain.js';
import { createLogWriter } from './log-writer.js';
import { Spool } from './spool.js';
import { isPostgresUrl, openStore, type StoreOptions } from './sql-store.js';

/** Messages from the request thread. */
export type ToWorker =
  | { type: 'records'; records: LogRecord[] }
  | { type: 'drain'; id: number }
  | { type: 'close'; id: number };

/** Messages to the request thread; `spooled` is how many records wait on disk for the store. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'written'; records: number; ms: number; fromSpool: boolean; spooled: number }
  | { type: 'spooled'; records: number; dropped: number; spooled: number }
  | { type: 'failed'; records: number; message: string }
  | { type: 'drained'; id: number; spooled: number }
  | { type: 'store'; available: boolean; spooled: number }
  | { type: 'roll-failed'; message: string }
  | { type: 'start-failed'; message: string };

/** Where the worker spools records while the store is away (PostgreSQL only). */
export interface SpoolAt {
  dir: string;
  maxBytes: number;
}

/** How often the end users' windows are slid to the current minute (tens of milliseconds at 10 M records). */
const ROLL_EVERY_MS = 60_000;

const port = parentPort;
if (!port) throw new Error('log-worker.ts runs as a worker thread only');
const send = (message: FromWorker) => port.postMessage(message);

try {
  const store = await openStore(workerData.store as StoreOptions);
  const spoolAt = workerData.spool as SpoolAt | undefined;
  const spool = spoolAt ? await Spool.open<LogRecord>(spoolAt.dir, { maxBytes: spoolAt.maxBytes }) : undefined;
  const writer = createLogWriter(store, {
    // The request thread bounds the queue; here every record it handed over is kept.
    maxQueue: Number.POSITIVE_INFINITY,
    flushIntervalMs: 0,
    concurrency: isPostgresUrl((workerData.store as StoreOptions).databaseUrl) ? 2 : 1,
    spool,
    onWritten: (records, ms, fromSpool) =>
      send({ type: 'written', records, ms, fromSpool, spooled: writer.stats.spooled }),
    onSpooled: (records, dropped) => send({ type: 'spooled', records, dropped, spooled: writer.stats.spooled }),
    onError: (error, records) => send({ type: 'failed', records, message: String(error) }),
    onStoreState: (available) => send({ type: 'store', available, spooled: writer.stats.spooled }),
  });
  // The users table's windows slide here, next to the writes, on one replica at a time.
  let rolling: Promise<unknown> | null = null;
  const roll = () => {
    rolling ??= store
      .exclusive('user-windows', () => store.rollUserWindows(Date.now()))
      .catch((error: unknown) => send({ type: 'roll-failed', message: String(error) }))
      .finally(() => {
        rolling = null;
      });
  };
  roll();
  const rollTimer = setInterval(roll, ROLL_EVERY_MS);
  rollTimer.unref();
  port.on('message', async (message: ToWorker) => {
    if (message.type === 'records') {
      for (const record of message.records) writer.enqueue(record);
    } else if (message.type === 'drain') {
      await writer.drain();
      send({ type: 'drained', id: message.id, spooled: writer.stats.spooled });
    } else {
      clearInterval(rollTimer);
      await rolling;
      await writer.close();
      await store.close();
      send({ type: 'drained', id: message.id, spooled: writer.stats.spooled });
    }
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'start-failed', message: error instanceof Error ? error.message : String(error) });
}
