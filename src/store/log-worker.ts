// The writer thread of log-thread.ts: opens the SQLite store the main thread has already
// migrated and writes each batch it is sent, in order, answering when it is committed.
import { parentPort, workerData } from 'node:worker_threads';
import type { LogThreadReply, LogThreadRequest } from './log-thread.js';
import { openStore } from './sql-store.js';

const port = parentPort;
if (!port) throw new Error('log-worker.ts runs as a worker thread (see log-thread.ts)');

const { dataDir } = workerData as { dataDir: string };
const store = await openStore({ dataDir });
let queue = Promise.resolve();

port.on('message', (message: LogThreadRequest | 'close') => {
  queue = queue.then(async () => {
    if (message === 'close') {
      await store.close();
      port.close();
      return;
    }
    let reply: LogThreadReply;
    try {
      await store.insertLogs(message.batch);
      reply = { id: message.id };
    } catch (error) {
      reply = { id: message.id, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
  });
});
