// The request log's write path: records are queued off the response path and written
// in batches, one write in flight at a time. The queue is bounded; when the store cannot
// keep up, new records are dropped and counted rather than growing memory without limit.
// With a spool, a store that cannot be reached (PostgreSQL down) loses nothing: batches
// wait on local disk, bounded, and are written once it answers again.
import type { LogRecord } from '../domain.js';
import type { Spool } from './spool.js';
import type { Store } from './store.js';

export interface LogWriterOptions {
  maxQueue?: number;
  batchSize?: number;
  /**
   * Batches written at the same time (each its own transaction). PostgreSQL writes one batch's
   * records while the next is prepared and sent; SQLite has one writer at a time anyway.
   */
  concurrency?: number;
  flushIntervalMs?: number;
  onDrop?: (record: LogRecord) => void;
  /** A batch the store refused twice: `records` of them are lost. */
  onError?: (error: unknown, records: number) => void;
  /** A batch was stored: how many records, how long the write took, and whether they came from the spool. */
  onWritten?: (records: number, ms: number, fromSpool: boolean) => void;
  /** A batch went to the spool: how many records, and how many of them it had no room for. */
  onSpooled?: (records: number, dropped: number) => void;
  /** Where batches the store refused wait for it; without one they are lost (and counted). */
  spool?: Spool<LogRecord>;
  /** How often a spooling writer asks the store again. */
  retryMs?: number;
  /** The store stopped taking records (false) or took them again (true). */
  onStoreState?: (available: boolean) => void;
}

export interface LogWriterStats {
  queued: number;
  written: number;
  dropped: number;
  failed: number;
  /** Records waiting in the spool for the store. */
  spooled: number;
  /** False while the store refuses records and they go to the spool. */
  storeAvailable: boolean;
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
  const batchSize = options.batchSize ?? 5_000;
  const concurrency = options.concurrency ?? 1;
  const flushIntervalMs = options.flushIntervalMs ?? 50;
  const retryMs = options.retryMs ?? 1_000;
  const { spool } = options;
  const stats: LogWriterStats = {
    queued: 0,
    written: 0,
    dropped: 0,
    failed: 0,
    spooled: spool?.stats.items ?? 0,
    storeAvailable: true,
  };

  let queue: LogRecord[] = [];
  /** The writers at work, at most `concurrency`; each writes batches until the queue is empty. */
  const writers = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | null = null;
  let retry: NodeJS.Timeout | null = null;
  let closed = false;
  // What a previous run left in the spool is written first thing.
  if (spool && spool.stats.items > 0) scheduleRetry();

  async function insert(batch: readonly LogRecord[], fromSpool = false): Promise<void> {
    const started = performance.now();
    await store.insertLogs(batch);
    stats.written += batch.length;
    options.onWritten?.(batch.length, performance.now() - started, fromSpool);
  }

  async function write(batch: LogRecord[]): Promise<void> {
    // While the store is away, batches go straight to the spool; the retry loop asks it.
    if (spool && !stats.storeAvailable) return toSpool(batch);
    try {
      await insert(batch);
    } catch {
      // One retry covers a busy database; a second failure spools the batch, or loses it, loudly.
      try {
        await insert(batch);
      } catch (error) {
        if (spool) {
          setAvailable(false);
          return toSpool(batch);
        }
        stats.failed += batch.length;
        options.onError?.(error, batch.length);
      }
    }
  }

  async function toSpool(batch: LogRecord[]): Promise<void> {
    if (!spool) return;
    const before = spool.stats.dropped;
    await spool.append(batch);
    const dropped = spool.stats.dropped - before;
    stats.dropped += dropped;
    stats.spooled = spool.stats.items;
    options.onSpooled?.(batch.length, dropped);
    scheduleRetry();
  }

  function setAvailable(available: boolean): void {
    if (stats.storeAvailable === available) return;
    stats.storeAvailable = available;
    options.onStoreState?.(available);
  }

  function scheduleRetry(): void {
    if (retry || closed) return;
    retry = setTimeout(() => {
      retry = null;
      void drainSpool();
    }, retryMs);
    retry.unref();
  }

  /** Writes what the spool holds, oldest first, until it is empty or the store fails again. */
  async function drainSpool(): Promise<void> {
    if (!spool) return;
    try {
      for (;;) {
        const batch = await spool.peek(batchSize);
        if (batch.length === 0) break;
        // Records are stored idempotently (by id): one written before a crash is not doubled.
        await insert(batch, true);
        await spool.commit(batch.length);
        stats.spooled = spool.stats.items;
      }
      setAvailable(true);
    } catch {
      scheduleRetry();
    }
  }

  /**
   * Writes batches until the queue is empty, at most `concurrency` at a time: another writer
   * starts whenever records wait and fewer are at work.
   */
  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const writing = async () => {
      while (queue.length > 0) {
        const batch = queue.length <= batchSize ? queue : queue.slice(0, batchSize);
        queue = queue.length <= batchSize ? [] : queue.slice(batchSize);
        stats.queued = queue.length;
        await write(batch);
      }
    };
    while (writers.size < concurrency && queue.length > 0) {
      const writer: Promise<void> = writing().finally(() => writers.delete(writer));
      writers.add(writer);
    }
    return Promise.all(writers).then(() => {});
  }

  function schedule(): void {
    if (timer || writers.size > 0) return;
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
      while (queue.length > 0 || writers.size > 0) await flush();
    },
    async close() {
      closed = true;
      await this.drain();
      if (retry) clearTimeout(retry);
      // What the spool still holds stays on disk, for the next start.
      await spool?.settle();
    },
  };
}
