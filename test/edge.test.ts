// Edge proxies end to end: a central gateway and two edges on loopback, the official SDK as
// the client. Policies reach the edges, records come back stamped with the edge's name, and
// an outage of the central gateway loses nothing.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import type { LogRecord } from '../src/domain.js';
import { SNAPSHOT_FILE } from '../src/edge/sync.js';
import { type EdgeGateway, startEdge } from '../src/edge-gateway.js';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.js';
import { apiError, fakeProviderKey, readJson, type Stack, startStack } from './harness.js';

const SYNC_MS = 200;
const ENFORCE_MESSAGE = 'Usage Panda: Config set to block requests without user field';

let central: Stack;
let mock: MockUpstream;
const dirs: string[] = [];
const edges: EdgeGateway[] = [];
let connA: { id: string; key: string };
let connB: { id: string; key: string };
const storedKey = fakeProviderKey();
let eu: { id: string; token: string };
let us: { id: string; token: string };

async function createEdgeToken(name: string, connections?: string[]) {
  const { status, json } = await central.admin('POST', '/api/edge-tokens', { name, connections });
  expect(status).toBe(201);
  expect(json.token).toMatch(/^upe-[A-Za-z0-9]{48}$/);
  return { id: json.id as string, token: json.token as string };
}

async function startEdgeOn(token: string, dataDir?: string): Promise<EdgeGateway> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'usage-panda-edge-')));
  if (!dataDir) dirs.push(dir);
  const config = await loadConfig(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir: dir,
      upstream: mock.url,
      controlPlane: central.gateway.url,
      edgeToken: token,
      edgeSyncIntervalMs: SYNC_MS,
      logLevel: 'silent',
    },
    {},
  );
  const edge = await startEdge(config);
  edges.push(edge);
  return edge;
}

/** The Usage Panda key as the SDK's API key: the connection's stored provider key goes upstream. */
const client = (edge: EdgeGateway, key: string) =>
  new OpenAI({ apiKey: key, baseURL: `${edge.url}/v1`, maxRetries: 0 });

/** Sends a chat request through the edge; returns its record id. */
async function chat(edge: EdgeGateway, key: string, content = 'Hello edge'): Promise<string> {
  const { response } = await client(edge, key)
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], user: 'u-1' })
    .withResponse();
  const id = response.headers.get('x-usagepanda-request-id');
  if (!id) throw new Error('no request id');
  return id;
}

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The central's record, once the edge has shipped it. */
const shipped = (id: string): Promise<LogRecord> => eventually(() => central.gateway.store.findLog(id));

async function allRecords(): Promise<LogRecord[]> {
  await central.gateway.logWriter.drain();
  return (await central.gateway.store.queryLogs({}, { limit: 500 })).records;
}

let edge1: EdgeGateway;
let edge2: EdgeGateway;

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  central = await startStack();
  connA = await central.createConnection({ name: 'conn-a', providerKey: storedKey });
  connB = await central.createConnection({ name: 'conn-b', providerKey: fakeProviderKey() });
  eu = await createEdgeToken('edge-eu');
  us = await createEdgeToken('edge-us', [connA.id]);
  edge1 = await startEdgeOn(eu.token);
  edge2 = await startEdgeOn(us.token);
});

afterAll(async () => {
  for (const edge of edges) await edge.close().catch(() => {});
  await central?.close();
  await mock?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('edge proxies', () => {
  it('serves through each edge and records the request on the central with the edge name', async () => {
    mock.reset();
    const viaEu = await chat(edge1, connA.key);
    const viaUs = await chat(edge2, connA.key);
    // The provider key stored on the central travelled sealed and opened on the edge.
    expect(mock.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${storedKey}`, `Bearer ${storedKey}`]);
    const first = await shipped(viaEu);
    const second = await shipped(viaUs);
    expect(first).toMatchObject({ edge: 'edge-eu', connectionId: connA.id, connectionName: 'conn-a', status: 200 });
    expect(first.model).toBe('gpt-4o-mini');
    expect(first.endUser).toBe('u-1');
    expect(second).toMatchObject({ edge: 'edge-us', connectionId: connA.id, status: 200 });
    const { json } = await central.admin('GET', `/api/logs/${viaEu}`);
    expect(json.edge).toBe('edge-eu');
    // Served here: no edge.
    const { response } = await central
      .client(connA.key)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    const local = response.headers.get('x-usagepanda-request-id');
    expect((await central.record(local)).edge).toBeUndefined();
    expect((await central.admin('GET', `/api/logs/${local}`)).json.edge).toBeNull();
    const tokens = await central.admin('GET', '/api/edge-tokens');
    expect(
      tokens.json.data.map((t: { name: string; lastSeenAt: string | null }) => [t.name, t.lastSeenAt !== null]),
    ).toEqual([
      ['edge-eu', true],
      ['edge-us', true],
    ]);
    expect(JSON.stringify(tokens.json)).not.toContain(eu.token);
  });

  it("opens a new connection's target secrets on the edge, sealed for its token in transit", async () => {
    const azure = await central.createConnection({
      name: 'conn-azure',
      targets: [
        {
          provider: 'azure',
          baseUrl: new URL(mock.url).origin,
          apiKey: 'azure-edge-key',
          apiVersion: '2024-06-01',
          deployments: { 'gpt-4o-mini': 'gpt-4o' },
        },
      ],
    });
    const config = await readJson(
      await fetch(`${central.gateway.url}/api/edge/config`, { headers: { authorization: `Bearer ${eu.token}` } }),
    );
    expect(JSON.stringify(config)).not.toContain('azure-edge-key');
    mock.reset();
    // A connection made after the edge started reaches it with the next sync.
    const id = await eventually(() => chat(edge1, azure.key, 'to azure').catch(() => undefined));
    const sent = mock.requests.find((r) => r.path === '/openai/deployments/gpt-4o/chat/completions');
    expect(sent?.headers['api-key']).toBe('azure-edge-key');
    expect(await shipped(id)).toMatchObject({ edge: 'edge-eu', provider: 'azure', connectionId: azure.id });
  });

  it('brings a policy change on the central to both edges within the sync interval', async () => {
    const { status } = await central.admin('PATCH', `/api/connections/${connA.id}`, {
      policy: { enforceUserIds: true },
    });
    expect(status).toBe(200);
    const changedAt = Date.now();
    const refusals = await Promise.all(
      [edge1, edge2].map((edge) =>
        eventually(async () => {
          const failed = await client(edge, connA.key)
            .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'no user' }] })
            .then(() => undefined)
            .catch((e: unknown) => e);
          return failed instanceof OpenAI.APIError ? failed : undefined;
        }),
      ),
    );
    // Two poll intervals at most, with room for a loaded machine.
    expect(Date.now() - changedAt).toBeLessThan(SYNC_MS * 2 + 1_000);
    for (const err of refusals) {
      expect(err.status).toBe(422);
      expect(err.error).toEqual({ message: ENFORCE_MESSAGE, type: 'invalid_request', param: null, code: null });
      const record = await shipped(err.headers?.get('x-usagepanda-request-id') ?? '');
      expect(record.status).toBe(422);
      expect(record.flags.map((f) => f.type)).toEqual(['policy_enforce_user_ids']);
    }
    await central.admin('PATCH', `/api/connections/${connA.id}`, { policy: { enforceUserIds: false } });
  });

  it('keeps serving from its cache while the central is down, and delivers every spooled record once it returns', async () => {
    const before = (await allRecords()).length;
    const port = Number(new URL(central.gateway.url).port);
    await central.stop();

    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push(await chat(edge1, connA.key, `outage eu ${i}`));
    for (let i = 0; i < 5; i++) sent.push(await chat(edge2, connA.key, `outage us ${i}`));
    await eventually(async () => (edge1.shipper.spooled >= 5 && edge2.shipper.spooled >= 5 ? true : undefined));

    const ready = await readJson(await fetch(`${edge1.url}/readyz`));
    expect(ready.status).toBe('ready');
    expect(ready.controlPlane).toMatchObject({ url: central.gateway.url, reachable: false, spooled: 5 });
    const metrics = await (await fetch(`${edge1.url}/metrics`)).text();
    expect(metrics).toMatch(/usage_panda_edge_spool_records 5/);
    expect(metrics).toMatch(/usage_panda_edge_sync_age_seconds \d/);

    // An edge restarted while the central is down serves from the snapshot it kept (0600).
    const dir = dirs[0] ?? '';
    expect((await stat(join(dir, SNAPSHOT_FILE))).mode & 0o777).toBe(0o600);
    await edge1.close();
    edge1 = await startEdgeOn(eu.token, dir);
    expect(edge1.shipper.spooled).toBe(5);
    sent.push(await chat(edge1, connA.key, 'after edge restart'));

    central = await startStack({ port }, { restartOf: central });
    await eventually(async () => (edge1.shipper.spooled === 0 && edge2.shipper.spooled === 0 ? true : undefined));
    for (const id of sent) expect((await shipped(id)).connectionId).toBe(connA.id);
    const records = await allRecords();
    expect(records.length).toBe(before + sent.length);
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
    expect(
      records
        .filter((r) => sent.includes(r.id))
        .map((r) => r.edge)
        .sort(),
    ).toEqual([...Array(6).fill('edge-eu'), ...Array(5).fill('edge-us')]);
    const readyAgain = await eventually(async () => {
      const body = await readJson(await fetch(`${edge2.url}/readyz`));
      return body.controlPlane.reachable ? body : undefined;
    });
    expect(readyAgain.controlPlane.spooled).toBe(0);
  });

  it('takes a batch sent twice once (ingest is idempotent on id)', async () => {
    const id = await chat(edge1, connA.key, 'twice');
    const record = await shipped(id);
    const { edge, ...sent } = record;
    const post = () =>
      fetch(`${central.gateway.url}/api/edge/records`, {
        method: 'POST',
        headers: { authorization: `Bearer ${eu.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ records: [{ ...sent, edge: 'forged' }] }),
      });
    expect((await post()).status).toBe(202);
    expect((await post()).status).toBe(202);
    const records = await allRecords();
    expect(records.filter((r) => r.id === id).map((r) => r.edge)).toEqual(['edge-eu']);
  });

  it('keeps a scoped token to its connections: config and records alike', async () => {
    const config = await fetch(`${central.gateway.url}/api/edge/config`, {
      headers: { authorization: `Bearer ${us.token}` },
    });
    expect(config.status).toBe(200);
    const body = await readJson(config);
    expect(body.connections.map((c: { id: string }) => c.id)).toEqual([connA.id]);
    expect(JSON.stringify(body)).not.toContain(storedKey);
    const etag = config.headers.get('etag');
    const again = await fetch(`${central.gateway.url}/api/edge/config`, {
      headers: { authorization: `Bearer ${us.token}`, 'if-none-match': etag ?? '' },
    });
    expect(again.status).toBe(304);

    const err = await apiError(
      client(edge2, connB.key).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
      }),
    );
    expect(err.status).toBe(401);

    const id = await chat(edge1, connB.key, 'conn b via eu');
    const { edge, ...record } = await shipped(id);
    const posted = await fetch(`${central.gateway.url}/api/edge/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${us.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ ...record, id: `${record.id}-x` }] }),
    });
    expect(posted.status).toBe(403);
    expect((await readJson(posted)).error.message).toBe(
      `Usage Panda: this edge token may not serve connection "${connB.id}"`,
    );
  });

  it('refuses an edge token anywhere else in /api, and an edge answers /api with where the admin API is', async () => {
    const admin = await fetch(`${central.gateway.url}/api/connections`, {
      headers: { authorization: `Bearer ${eu.token}` },
    });
    expect(admin.status).toBe(401);
    const root = await fetch(`${edge1.url}/`);
    expect(root.status).toBe(404);
    expect((await readJson(root)).error.message).toContain('the admin API and the dashboard are on the control plane');
    const onEdge = await fetch(`${edge1.url}/api/connections`);
    expect(onEdge.status).toBe(404);
    expect((await readJson(onEdge)).error.message).toBe(
      `Usage Panda: this is an edge gateway: the admin API and the dashboard are on the control plane, ${central.gateway.url}`,
    );
  });

  it('stops sync and ingest at once when the token is revoked', async () => {
    expect((await central.admin('DELETE', `/api/edge-tokens/${us.id}`)).status).toBe(204);
    const config = await fetch(`${central.gateway.url}/api/edge/config`, {
      headers: { authorization: `Bearer ${us.token}` },
    });
    expect(config.status).toBe(401);
    expect((await readJson(config)).error.message).toBe('Usage Panda: invalid, missing or revoked edge token');
    const records = await fetch(`${central.gateway.url}/api/edge/records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${us.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ records: [] }),
    });
    expect(records.status).toBe(401);
    await eventually(async () => (edge2.sync.lastStatus === 401 ? true : undefined));
  });
});

describe('edge configuration', () => {
  const token = `upe-${'a'.repeat(48)}`;

  it('needs the control plane and the edge token together, from flags or the environment', async () => {
    await expect(loadConfig({ controlPlane: 'http://127.0.0.1:9' }, {})).rejects.toThrow(
      'an edge gateway needs both the control plane URL and its edge token (--control-plane and --edge-token, or USAGE_PANDA_CONTROL_PLANE and USAGE_PANDA_EDGE_TOKEN)',
    );
    await expect(loadConfig({}, { USAGE_PANDA_EDGE_TOKEN: token })).rejects.toThrow('needs both');
    await expect(loadConfig({ controlPlane: 'http://127.0.0.1:9', edgeToken: 'up-nope' }, {})).rejects.toThrow(
      'edgeToken: expected an edge token: upe- followed by 48 letters and digits',
    );
    const config = await loadConfig(
      {},
      { USAGE_PANDA_CONTROL_PLANE: 'https://central.example:9000', USAGE_PANDA_EDGE_TOKEN: token },
    );
    expect(config).toMatchObject({
      controlPlane: 'https://central.example:9000',
      edgeToken: token,
      edgeSyncIntervalMs: 5_000,
      edgeSpoolMaxBytes: 1024 ** 3,
    });
  });

  it('refuses to start when the control plane is unreachable and no snapshot is kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usage-panda-edge-'));
    dirs.push(dir);
    const config = await loadConfig(
      { port: 0, dataDir: dir, controlPlane: 'http://127.0.0.1:9', edgeToken: token, logLevel: 'silent' },
      {},
    );
    await expect(startEdge(config)).rejects.toThrow(
      `cannot start the edge: the control plane http://127.0.0.1:9 is unreachable or refused the edge token, and no snapshot is kept in ${join(dir, SNAPSHOT_FILE)}`,
    );
  });
});
