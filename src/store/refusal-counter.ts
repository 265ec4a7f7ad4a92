// Refused requests (a wrong key, a wrong admin token) are counted, not logged one by one:
// a loop of them would otherwise add a record each. Counts are summed in memory per
// minute, IP, source and status and added to the store's rows in one write a few seconds later.
import type { RefusalCount, Store } from './store.js';

const MINUTE_MS = 60_000;
/** Distinct rows held between writes; past it, new IPs are counted under OTHER_IPS. */
const MAX_ROWS = 10_000;
export const OTHER_IPS = 'other';

export interface RefusalCounterOptions {
  flushIntervalMs?: number;
  onError?: (error: unknown) => void;
  now?: () => number;
}

export interface RefusalCounter {
  add(source: RefusalCount['source'], status: number, ip: string | null): void;
  /** Writes what is counted so far. */
  flush(): Promise<void>;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

export function createRefusalCounter(
  store: Pick<Store, 'addRefusals'>,
  options: RefusalCounterOptions = {},
): RefusalCounter {
  const now = options.now ?? Date.now;
  let pending = new Map<string, RefusalCount>();
  let writing: Promise<void> = Promise.resolve();

  async function flush(): Promise<void> {
    const batch = [...pending.values()];
    pending = new Map();
    // One write at a time, in order, so no count is added twice or lost between them.
    writing = writing.then(async () => {
      if (batch.length === 0) return;
      try {
        await store.addRefusals(batch);
      } catch (error) {
        options.onError?.(error);
      }
    });
    return writing;
  }

  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 5_000);
  timer.unref();

  return {
    add(source, status, ip) {
      const minute = now() - (now() % MINUTE_MS);
      let address = ip ?? '';
      let key = `${minute}|${source}|${status}|${address}`;
      if (!pending.has(key) && pending.size >= MAX_ROWS) {
        address = OTHER_IPS;
        key = `${minute}|${source}|${status}|${address}`;
      }
      const row = pending.get(key);
      if (row) row.count++;
      else pending.set(key, { minute, ip: address, source, status, count: 1 });
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
