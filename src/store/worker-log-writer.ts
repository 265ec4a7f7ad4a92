// The gateway's log writer: the request thread only collects records and hands them to a
// worker thread in batches (a structured clone per batch); the worker writes them and
// their rollups through a store connection of its own (log-worker.ts), so storing costs
// the request thread nothing and uses another core where there is one.
import { Worker } from 'node:worker_threads';
import type { LogRecord } from '../domain.js';
import type { FromWorker, SpoolAt, ToWorker } from './log-worker.js';
import type { LogWriter, LogWriterOptions, LogWriterStats } from './log-writer.js';
import type { StoreOptions } from './sql-store.js';

export interface WorkerLogWriterOptions extends Omit<LogWriterOptions, 'spool'> {
  /** Where the worker's store connects: the gateway's own store, already migrated. */
  store: StoreOptions;
  /** Where the worker spools records while the store is away; none: they are lost (and counted). */
  spool?: SpoolAt;
  /** Sliding the end users' windows failed (it is tried again a minute later). */
  onRollError?: (error: Error) => void;
}

/**
 * Built from TypeScript (tests, `tsx`) the worker loads through tsx; built to dist/, it is
 * plain JavaScript.
 */
function spawnWorker(store: StoreOptions, spool: SpoolAt | undefined): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const entry = new URL('./log-worker.ts', self).href;
    const source = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(source, { eval: true, workerData: { store, spool } });
  }
  return new Worker(new URL('./log-worker.js', self), { workerData: { store, spool } });
}

/** Starts the worker and resolves once its store is open. */
export async function startWorkerLogWriter(options: WorkerLogWriterOptions): Promise<LogWriter> {
  const maxQueue = options.maxQueue ?? 10_000;
  // Records are handed over every 50 ms, as the in-process writer wrote them, so the worker writes batches as
  // large as before (fewer transactions and rollup upserts per record); at most 100 at a time, because cloning
  // them holds up the request thread (about 5 µs a record).
  const handOverSize = Math.min(options.batchSize ?? 500, 100);
  const flushIntervalMs = options.flushIntervalMs ?? 50;
  const stats: LogWriterStats = { queued: 0, written: 0, dropped: 0, failed: 0, spooled: 0, storeAvailable: true };

  const worker = spawnWorker(options.store, options.spool);
  let queue: LogRecord[] = [];
  /** Handed to the worker and not yet written or failed. */
  let inWorker = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let gone: Error | null = null;
  let nextId = 0;
  const waiting = new Map<number, () => void>();

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          return resolve();
        case 'start-failed':
          return reject(new Error(`the log worker could not open the store: ${message.message}`));
        case 'written':
          // Records written from the spool had left the worker's hands when they were spooled.
          if (!message.fromSpool) inWorker -= message.records;
          stats.written += message.records;
          stats.spooled = message.spooled;
          options.onWritten?.(message.records, message.ms, message.fromSpool);
          break;
        case 'spooled':
          inWorker -= message.records;
          stats.dropped += message.dropped;
          stats.spooled = message.spooled;
          break;
        case 'store':
          stats.storeAvailable = message.available;
          stats.spooled = message.spooled;
          options.onStoreState?.(message.available);
          break;
        case 'failed':
          inWorker -= message.records;
          stats.failed += message.records;
          options.onError?.(new Error(message.message), message.records);
          break;
        case 'roll-failed':
          options.onRollError?.(new Error(message.message));
          break;
        case 'drained':
          stats.spooled = message.spooled;
          waiting.get(message.id)?.();
          waiting.delete(message.id);
          break;
      }
      stats.queued = queue.length + inWorker;
    });
    // A worker that dies takes what it held with it: counted as failed, and later records are dropped.
    const lost = (error: Error) => {
      gone ??= error;
      stats.failed += inWorker;
      if (inWorker > 0) options.onError?.(error, inWorker);
      inWorker = 0;
      for (const done of waiting.values()) done();
      waiting.clear();
      reject(error);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the log worker exited (code ${code})`)));
  });
  await ready;
  // Shutdown drains and ends the worker; it never keeps the process alive on its own.
  worker.unref();

  const post = (message: ToWorker) => worker.postMessage(message);

  function handOver(): void {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (queue.length === 0 || gone) return;
    inWorker += queue.length;
    post({ type: 'records', records: queue });
    queue = [];
  }

  /** Hands over what is queued, then resolves once the worker wrote everything it held. */
  function roundTrip(type: 'drain' | 'close'): Promise<void> {
    handOver();
    if (gone) return Promise.resolve();
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      post({ type, id });
    });
  }

  return {
    stats,
    enqueue(record) {
      if (closed || gone || queue.length + inWorker >= maxQueue) {
        stats.dropped++;
        options.onDrop?.(record);
        return false;
      }
      queue.push(record);
      stats.queued = queue.length + inWorker;
      if (queue.length >= handOverSize) handOver();
      else if (!timer) {
        timer = setTimeout(handOver, flushIntervalMs);
        timer.unref();
      }
      return true;
    },
    drain: () => roundTrip('drain'),
    async close() {
      if (closed) return;
      closed = true;
      await roundTrip('close');
      await worker.terminate();
    },
  };
}
