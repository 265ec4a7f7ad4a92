// The log worker thread: its own store connection (SQLite file or PostgreSQL pool), fed
// batches of records by the request thread (see worker-log-writer.ts), writing them and
// their rollups with the same log writer the gateway used in process.
import { parentPort, workerData } from 'node:worker_threads';
import type { LogRecord } from '../domain.js';
import { createLogWriter } from './log-writer.js';
import { openStore, type StoreOptions } from './sql-store.js';

/** Messages from the request thread. */
export type ToWorker =
  | { type: 'records'; records: LogRecord[] }
  | { type: 'drain'; id: number }
  | { type: 'close'; id: number };

/** Messages to the request thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'written'; records: number; ms: number }
  | { type: 'failed'; records: number; message: string }
  | { type: 'drained'; id: number }
  | { type: 'start-failed'; message: string };

const port = parentPort;
if (!port) throw new Error('log-worker.ts runs as a worker thread only');
const send = (message: FromWorker) => port.postMessage(message);

try {
  const store = await openStore(workerData.store as StoreOptions);
  const writer = createLogWriter(store, {
    // The request thread bounds the queue; here every record it handed over is kept.
    maxQueue: Number.POSITIVE_INFINITY,
    flushIntervalMs: 0,
    onWritten: (records, ms) => send({ type: 'written', records, ms }),
    onError: (error, records) => send({ type: 'failed', records, message: String(error) }),
  });
  port.on('message', async (message: ToWorker) => {
    if (message.type === 'records') {
      for (const record of message.records) writer.enqueue(record);
    } else if (message.type === 'drain') {
      await writer.drain();
      send({ type: 'drained', id: message.id });
    } else {
      await writer.close();
      await store.close();
      send({ type: 'drained', id: message.id });
    }
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'start-failed', message: error instanceof Error ? error.message : String(error) });
}
