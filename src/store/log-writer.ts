// The request log's write path: records are queued off the response path and written
// in batches, one write in flight at a time. The queue is bounded; when the store cannot
// keep up, new records are dropped and counted rather than growing memory without limit.
import type { LogRecord } from '../domain.js';
import type { Store } from './store.js';

export interface LogWriterOptions {
  maxQueue?: number;
  batchSize?: number;
  flushIntervalMs?: number;
  onDrop?: (record: LogRecord) => void;
  /** A batch the store refused twice: `records` of them are lost. */
  onError?: (error: unknown, records: number) => void;
  /** A batch was stored: how many records, and how long the write took. */
  onWritten?: (records: number, ms: number) => void;
}

export interface LogWriterStats {
  queued: number;
  written: number;
  dropped: number;
  failed: number;
}

export interface LogWriter {
  /** Queues a record; false when the queue was full and the record was dropped. */
  enqueue(record: LogRecord): boolean;
  /** Resolves once everything queued before the call is written (or failed). */
  drain(): Promise<void>;
  /** Drains and stops the timer; later records are dropped. */
  close(): Promise<void>;
  readonly stats: Readonly<LogWriterStats>;
}

export function createLogWriter(store: Pick<Store, 'insertLogs'>, options: LogWriterOptions = {}): LogWriter {
  const maxQueue = options.maxQueue ?? 10_000;
  const batchSize = options.batchSize ?? 500;
  const flushIntervalMs = options.flushIntervalMs ?? 50;
  const stats: LogWriterStats = { queued: 0, written: 0, dropped: 0, failed: 0 };

  let queue: LogRecord[] = [];
  let inFlight: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  async function write(batch: LogRecord[]): Promise<void> {
    let started = performance.now();
    try {
      await store.insertLogs(batch);
    } catch {
      // One retry covers a busy database; a second failure loses the batch, loudly.
      try {
        started = performance.now();
        await store.insertLogs(batch);
      } catch (error) {
        stats.failed += batch.length;
        options.onError?.(error, batch.length);
        return;
      }
    }
    stats.written += batch.length;
    options.onWritten?.(batch.length, performance.now() - started);
  }

  /** Writes batches until the queue is empty; at most one writer runs. */
  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    inFlight ??= (async () => {
      while (queue.length > 0) {
        const batch = queue.length <= batchSize ? queue : queue.slice(0, batchSize);
        queue = queue.length <= batchSize ? [] : queue.slice(batchSize);
        stats.queued = queue.length;
        await write(batch);
      }
    })().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  function schedule(): void {
    if (timer || inFlight) return;
    timer = setTimeout(flush, flushIntervalMs);
    timer.unref();
  }

  return {
    stats,
    enqueue(record) {
      if (closed || queue.length >= maxQueue) {
        stats.dropped++;
        options.onDrop?.(record);
        return false;
      }
      queue.push(record);
      stats.queued = queue.length;
      if (queue.length >= batchSize) void flush();
      else schedule();
      return true;
    },
    async drain() {
      while (queue.length > 0 || inFlight) await (inFlight ?? flush());
    },
    async close() {
      closed = true;
      await this.drain();
    },
  };
}
