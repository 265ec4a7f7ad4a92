// The shipper against a real loopback control plane that can be taken down and brought back.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logRecord } from '../../test/fixtures.js';
import type { LogRecord } from '../domain.js';
import { Spool } from '../store/spool.js';
import { Shipper } from './shipper.js';

let dir: string;
let server: Server | null = null;
let port = 0;
/** Record ids in the order the control plane received them, and the batches' sizes. */
let received: string[] = [];
let batches: number[] = [];
/** Bytes of a request body past which the control plane answers 413. */
let bodyLimit = Number.POSITIVE_INFINITY;

async function startControlPlane(): Promise<void> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length > bodyLimit) return void res.writeHead(413).end('{}');
      const { records } = JSON.parse(body.toString()) as { records: LogRecord[] };
      received.push(...records.map((r) => r.id));
      batches.push(records.length);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}

async function stopControlPlane(): Promise<void> {
  const closing = server;
  server = null;
  if (!closing) return;
  closing.closeAllConnections();
  await new Promise((resolve) => closing.close(resolve));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'usage-panda-shipper-'));
  received = [];
  batches = [];
  bodyLimit = Number.POSITIVE_INFINITY;
  port = 0;
  await startControlPlane();
});
afterEach(async () => {
  await stopControlPlane();
  await rm(dir, { recursive: true, force: true });
});

async function shipper(options: { maxBytes?: number; retryMs?: number } = {}) {
  const spool = await Spool.open<LogRecord>(join(dir, 'spool'), { maxBytes: options.maxBytes });
  const errors: string[] = [];
  const shipping = new Shipper({
    controlPlane: `http://127.0.0.1:${port}`,
    token: 'upe-test',
    spool,
    batchSize: 3,
    flushIntervalMs: 20,
    retryMs: options.retryMs ?? 50,
    onError: (_err, message) => errors.push(message),
  });
  return { shipping, spool, errors };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const records = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => logRecord({ id: `req_${String(from + i).padStart(4, '0')}` }));

describe('shipper', () => {
  it('posts records in batches of its size and after its interval', async () => {
    const { shipping } = await shipper();
    for (const record of records(0, 4)) shipping.ship(record);
    // Counted once the response is read, which can be well after the control plane has the records.
    await until(() => shipping.stats.shipped === 4);
    expect(batches).toEqual([3, 1]);
    expect(received).toEqual(records(0, 4).map((r) => r.id));
    await shipping.close();
  });

  it('spools while the control plane is down and delivers everything in order once it is back', async () => {
    const { shipping, spool, errors } = await shipper();
    for (const record of records(0, 2)) shipping.ship(record);
    // Delivered, response read: stopping the control plane earlier would fail this batch too.
    await until(() => shipping.stats.shipped === 2);
    await stopControlPlane();
    for (const record of records(2, 7)) shipping.ship(record);
    // A retry can be under way when the last batch is spooled: reachable again until it fails.
    await until(() => spool.stats.items === 7 && !shipping.reachable);
    expect(errors).toEqual(['control plane unreachable: records go to the spool']);

    await startControlPlane();
    for (const record of records(9, 2)) shipping.ship(record);
    await until(() => shipping.stats.shipped === 11 && spool.stats.items === 0);
    expect(received).toEqual(records(0, 11).map((r) => r.id));
    await shipping.close();
  });

  it('delivers its spool once the control plane is back, with no new records to ship', async () => {
    await stopControlPlane();
    // Retries fall due while batches are still being spooled: none may be lost.
    const { shipping, spool } = await shipper({ retryMs: 1 });
    for (const record of records(0, 30)) shipping.ship(record);
    await until(() => spool.stats.items === 30);
    await startControlPlane();
    await until(() => shipping.stats.shipped === 30 && spool.stats.items === 0);
    expect(received).toEqual(records(0, 30).map((r) => r.id));
    await shipping.close();
  });

  it('spools on close what it could not send, and a new shipper on the same spool delivers it', async () => {
    await stopControlPlane();
    const first = await shipper();
    for (const record of records(0, 5)) first.shipping.ship(record);
    await first.shipping.close();
    expect(first.spool.stats.items).toBe(5);

    await startControlPlane();
    const second = await shipper();
    second.shipping.flush();
    await until(() => received.length === 5);
    expect(received).toEqual(records(0, 5).map((r) => r.id));
    await second.shipping.close();
  });

  it('drops and counts what does not fit in the spool, and logs it', async () => {
    await stopControlPlane();
    const { shipping, errors } = await shipper({ maxBytes: 3_000 });
    for (const record of records(0, 12)) shipping.ship(record);
    await shipping.close();
    expect(shipping.dropped).toBeGreaterThan(0);
    expect(shipping.spooled + shipping.dropped).toBe(12);
    expect(errors).toContain('edge spool full: records dropped (counted in /metrics)');
  });

  it('splits a batch the control plane finds too large', async () => {
    bodyLimit = 2 * JSON.stringify(records(0, 1)[0]).length + 100;
    const { shipping } = await shipper();
    for (const record of records(0, 3)) shipping.ship(record);
    await until(() => received.length === 3);
    expect(batches).toEqual([2, 1]);
    await shipping.close();
  });
});
