// The request log's SQLite writes on a thread of their own. better-sqlite3 is synchronous:
// a batch of inserts with its rollups held the event loop for milliseconds, on the main
// thread that relays every request. The worker opens the same database file (WAL lets the
// main thread read meanwhile) and writes each batch in one transaction, as the store does.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LogRecord } from '../domain.js';
import type { Store } from './store.js';

/** Where the log writer sends its batches, and how to let go of it. */
export interface LogSink extends Pick<Store, 'insertLogs'> {
  close(): Promise<void>;
}

export interface LogThreadRequest {
  id: number;
  batch: readonly LogRecord[];
}

export type LogThreadReply = { id: number; error?: undefined } | { id: number; error: string };

/** The store's own insert for PostgreSQL (asynchronous already), a writer thread for SQLite. */
export function logSinkFor(store: Store, dataDir: string): LogSink {
  if (store.dialect === 'postgres') return { insertLogs: (batch) => store.insertLogs(batch), close: async () => {} };
  return new LogWriterThread(dataDir);
}

/**
 * The worker thread running log-worker next to this module. From dist/ that is JavaScript;
 * from src/ (tests, benchmarks) it is TypeScript, loaded through tsx, whose loader a worker's
 * entry file does not get from `--import`: a small script registers it first.
 */
function workerOf(moduleUrl: string, workerData: unknown): Worker {
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL('./log-worker.js', moduleUrl), { workerData });
  const entry = new URL('./log-worker.ts', moduleUrl).href;
  const tsx = pathToFileURL(esmEntryOf(moduleUrl, 'tsx', './esm/api')).href;
  const script = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(script, { eval: true, workerData });
}

/** A package's ESM file for an export (require.resolve would give the CommonJS one). */
function esmEntryOf(fromUrl: string, name: string, subpath: string): string {
  const manifest = createRequire(fromUrl).resolve(`${name}/package.json`);
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const target = exports[subpath]?.import.default;
  if (!target) throw new Error(`${name} has no ESM export ${subpath}`);
  return join(dirname(manifest), target);
}

export class LogWriterThread implements LogSink {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  constructor(private readonly dataDir: string) {}

  insertLogs(batch: readonly LogRecord[]): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    this.worker ??= this.start();
    const id = this.nextId++;
    const request: LogThreadRequest = { id, batch };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker?.postMessage(request);
    });
  }

  /** Lets the worker finish what it was given, close the database and exit. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('close');
    await exited;
  }

  private start(): Worker {
    const worker = workerOf(import.meta.url, { dataDir: this.dataDir });
    worker.on('message', (reply: LogThreadReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error === undefined) waiting?.resolve();
      else waiting?.reject(new Error(reply.error));
    });
    // A thread that dies fails what it held; the next batch starts a new one.
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the log writer thread exited (code ${code})`)));
    return worker;
  }
}
