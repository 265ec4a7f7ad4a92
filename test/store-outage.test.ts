// PostgreSQL unreachable: the gateway keeps serving keys it has seen, its records wait in
// a bounded spool on local disk, /readyz says degraded, and when PostgreSQL answers again
// every spooled record is written — none lost, none twice. The outage is real: the
// gateway reaches PostgreSQL through a TCP relay on loopback that the test takes down.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/secrets/keys.js';
import { apiError, fakeProviderKey, readJson, type Stack, startStack } from './harness.js';
import { POSTGRES_URL, pgQuery } from './store-targets.js';

// Provider keys made at run time: never a real one.
const PROVIDER_KEY = fakeProviderKey();

const schema = `test_outage_${randomBytes(6).toString('hex')}`;
const target = new URL(POSTGRES_URL);

/** A TCP relay to PostgreSQL that can be taken down (every connection cut) and brought back on its port. */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

const relay = new Relay();
let stack: Stack;
beforeAll(async () => {
  await pgQuery(`create schema ${schema}`);
  await relay.up();
  const url = new URL(POSTGRES_URL);
  url.port = String(relay.port);
  url.searchParams.set('options', `-c search_path=${schema}`);
  stack = await startStack({ databaseUrl: url.toString() });
});
afterAll(async () => {
  await stack?.close();
  await relay.down();
  await pgQuery(`drop schema if exists ${schema} cascade`);
});

async function readyz() {
  return readJson(await fetch(`${stack.gateway.url}/readyz`));
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('PostgreSQL unreachable', () => {
  it('keeps serving, spools the records on disk, reports degraded, and writes them all when it returns', async () => {
    const { key } = await stack.createConnection({ providerKey: PROVIDER_KEY });
    const client = stack.client(key, { apiKey: key });
    const chat = (i: number) =>
      client.chat.completions
        .create({ model: 'gpt-4o-mini', user: `u-${i}`, messages: [{ role: 'user', content: `during ${i}` }] })
        .withResponse();
    // Seen once while the database is there: its connection is known.
    const first = await chat(0);
    const ids = [first.response.headers.get('x-usagepanda-request-id')];
    expect((await readyz()).status).toBe('ready');

    await relay.down();
    // Past the key cache's lifetime: the lookup fails over to the connection last read.
    await new Promise((resolve) => setTimeout(resolve, 5_200));
    for (let i = 1; i <= 20; i++) {
      const { data, response } = await chat(i);
      expect(data.choices[0]?.message.content).toBe(`Echo: during ${i}`);
      ids.push(response.headers.get('x-usagepanda-request-id'));
    }
    await stack.gateway.logWriter.drain();
    const degraded = await readyz();
    expect(degraded.status).toBe('degraded');
    expect(degraded.store.available).toBe(false);
    expect(degraded.store.spooled).toBeGreaterThanOrEqual(20);
    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/usage_panda_store_available 0/);

    // A key never seen cannot be looked up: a clear 503, not a 500.
    const fresh = generateApiKey();
    const notSeen = await apiError(stack.client(fresh, { apiKey: fresh }).models.list());
    expect(notSeen.status).toBe(503);
    expect(notSeen.error).toMatchObject({
      message: 'Usage Panda: the gateway cannot reach its database to look this key up; try again shortly',
    });

    await relay.up();
    await until(async () => (await readyz()).status === 'ready');
    expect((await readyz()).store).toEqual({ available: true, spooled: 0 });
    const rows = await pgQuery<{ id: string }>(`select id from ${schema}.logs`);
    const stored = rows.map((row) => row.id);
    for (const id of ids) expect(stored).toContain(id);
    // Each once: the spool's records are written idempotently, by id.
    expect(new Set(stored).size).toBe(stored.length);
    const users = await stack.admin('GET', '/api/stats/users?limit=100');
    expect(users.json.data.length).toBeGreaterThanOrEqual(21);
  }, 60_000);
});
