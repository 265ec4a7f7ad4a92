// Limits and budgets across replicas: three real gateway processes on one Redis and one
// PostgreSQL (a schema of this test's own). A budget that concurrent requests spread over
// the three cannot overshoot; a policy change on one replica is seen by another within a
// second; the holds of a replica killed with SIGKILL run out with their lease.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.js';
import { fakeProviderKey } from './harness.js';
import { POSTGRES_URL, pgQuery } from './store-targets.js';

const REDIS_URL = process.env.USAGE_PANDA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLI = ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli.ts')];
const schema = `test_spend_${randomBytes(6).toString('hex')}`;
const adminToken = `admin-${randomBytes(16).toString('hex')}`;
const LEASE_MS = 1_000;

/** Only output is priced, so a request's worst case is exactly what the mock answer costs. */
const CONFIG_YAML = [
  'gateway:',
  `  reservationLeaseMs: ${LEASE_MS}`,
  'prices:',
  '  - model: race-model',
  '    inputPerMTok: 0',
  '    outputPerMTok: 10',
].join('\n');
const COST_PER_REQUEST = 0.001; // 100 output tokens at $10 per million
const HUNDRED_WORDS = Array.from({ length: 100 }, () => 'word').join(' ');
const chat = { model: 'race-model', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 100 };

interface Replica {
  child: ChildProcess;
  url: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read many different admin answers
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  client(key: string, headers?: Record<string, string>): OpenAI;
}

let mock: MockUpstream;
let dataDir: string;
let databaseUrl: string;
const replicas: Replica[] = [];

async function startReplica(): Promise<Replica> {
  const dir = await mkdtemp(join(dataDir, 'replica-'));
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('USAGE_PANDA_') || name === 'REDIS_URL') delete env[name];
  const child = spawn(
    process.execPath,
    [
      ...CLI,
      'start',
      '--port',
      '0',
      '--data',
      dir,
      '--config',
      join(dataDir, 'usage-panda.yaml'),
      '--database-url',
      databaseUrl,
      '--redis-url',
      REDIS_URL,
      '--upstream',
      mock.url,
    ],
    { env: { ...env, USAGE_PANDA_ADMIN_TOKEN: adminToken, USAGE_PANDA_SECRET: 'replica-test-secret-0123456789' } },
  );
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.on('exit', () => reject(new Error(`gateway exited:\n${output}`)));
  });
  return {
    child,
    url,
    async admin(method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, json: text ? JSON.parse(text) : null };
    },
    client(key, headers = {}) {
      return new OpenAI({
        apiKey: fakeProviderKey(),
        baseURL: `${url}/v1`,
        maxRetries: 0,
        defaultHeaders: { 'x-usagepanda-api-key': key, ...headers },
      });
    },
  };
}

function stop(replica: Replica, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (replica.child.exitCode !== null || replica.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    replica.child.once('exit', () => resolve());
    replica.child.kill(signal);
  });
}

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  dataDir = await mkdtemp(join(tmpdir(), 'usage-panda-replicas-'));
  await writeFile(join(dataDir, 'usage-panda.yaml'), CONFIG_YAML);
  await pgQuery(`create schema ${schema}`);
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  databaseUrl = url.toString();
  // The first migrates the schema; the other two find it done.
  replicas.push(await startReplica());
  replicas.push(...(await Promise.all([startReplica(), startReplica()])));
}, 180_000);

afterAll(async () => {
  await Promise.all(replicas.map((replica) => stop(replica)));
  await mock?.close();
  await pgQuery(`drop schema if exists ${schema} cascade`);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const replica = (i: number) => replicas[i] as Replica;

async function createConnection(policy: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const { status, json } = await replica(0).admin('POST', '/api/connections', {
    name: `replicas-${randomBytes(4).toString('hex')}`,
    policy,
  });
  expect(status).toBe(201);
  return { id: json.id, key: json.key };
}

describe('three gateway processes on one Redis and one PostgreSQL', { timeout: 120_000 }, () => {
  it('let exactly the requests a budget fits through, however the requests are spread over the replicas', async () => {
    const n = 6;
    const budget = n * COST_PER_REQUEST;
    const { id, key } = await createConnection({ budgets: [{ per: 'connection', window: 'month', usd: budget }] });
    const clients = replicas.map((r) => r.client(key, { 'x-mock-reply': HUNDRED_WORDS }));
    const results = await Promise.allSettled(
      Array.from({ length: 10 * n }, (_, i) => (clients[i % 3] as OpenAI).chat.completions.create(chat)),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.flatMap((r) =>
      r.status === 'rejected' ? [r.reason as InstanceType<typeof OpenAI.APIError>] : [],
    );
    expect(succeeded).toBe(n);
    expect(refused.map((e) => [e.status, e.message])).toEqual(
      Array.from({ length: 9 * n }, () => [429, '429 Usage Panda: budget exceeded: $0.006 per month per connection']),
    );
    expect(refused.every((e) => (e.error as { type?: string }).type === 'insufficient_quota')).toBe(true);

    // Every replica's log queue is written within a second; wait for all 60 records.
    const rows = await vi.waitFor(
      async () => {
        const found = await pgQuery<{ status: number; cost_usd: number | null }>(
          `select status, cost_usd from ${schema}.logs where connection_id = '${id}'`,
        );
        if (found.length < 10 * n) throw new Error(`${found.length} records so far`);
        return found;
      },
      { timeout: 20_000, interval: 200 },
    );
    const spent = rows.reduce((sum, row) => sum + Number(row.cost_usd ?? 0), 0);
    console.log(
      `race, 3 processes: sent ${10 * n}, succeeded ${succeeded}, refused ${refused.length}, budget $${budget}, recorded spend $${spent}`,
    );
    expect(rows.filter((row) => row.status === 200)).toHaveLength(n);
    expect(spent).toBeLessThanOrEqual(budget + 1e-12);
    expect(spent).toBeCloseTo(budget, 12);
  });

  it('see a policy change made on one replica on another within a second', async () => {
    const { id, key } = await createConnection({});
    const onB = replica(1).client(key);
    await onB.chat.completions.create(chat); // replica B now has the connection cached
    const changed = await replica(0).admin('PATCH', `/api/connections/${id}`, { policy: { enforceUserIds: true } });
    expect(changed.status).toBe(200);
    // B's cache would keep the old policy for 5 s; the change event makes it ask again.
    await vi.waitFor(
      async () => {
        const refused = await onB.chat.completions.create(chat).then(
          () => null,
          (err: InstanceType<typeof OpenAI.APIError>) => err,
        );
        expect(refused?.status).toBe(422);
      },
      { timeout: 1_000, interval: 50 },
    );
  });

  it('see an auto-reply added and a key disabled on one replica on another within a second', async () => {
    const { id, key } = await createConnection({});
    const onB = replica(1).client(key);
    const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'opening hours?' }] };
    expect((await onB.chat.completions.create(ask)).choices[0]?.message.content).toBe('Echo: opening hours?');
    const reply = await replica(0).admin('POST', '/api/autoreplies', {
      type: 'chat',
      request: 'opening hours?',
      response: '9 to 5.',
      connections: [id],
    });
    expect(reply.status).toBe(201);
    await vi.waitFor(
      async () => expect((await onB.chat.completions.create(ask)).choices[0]?.message.content).toBe('9 to 5.'),
      { timeout: 1_000, interval: 50 },
    );

    expect((await replica(0).admin('PATCH', `/api/connections/${id}`, { enabled: false })).status).toBe(200);
    await vi.waitFor(
      async () => {
        const refused = await onB.chat.completions.create(ask).then(
          () => null,
          (err: InstanceType<typeof OpenAI.APIError>) => err,
        );
        expect(refused?.message).toBe('403 Usage Panda: this API key is disabled');
      },
      { timeout: 1_000, interval: 50 },
    );
  });

  it('give back the reservations of a replica killed with SIGKILL once their lease runs out, and keep those of a live one', async () => {
    const { id, key } = await createConnection({ budgets: [{ per: 'connection', window: 'total', usd: 1 }] });
    const victim = replica(2);
    // Requests that hang upstream hold their reservations on the victim.
    const hanging = Array.from({ length: 3 }, () =>
      victim
        .client(key, { 'x-mock-latency-ms': '60000' })
        .chat.completions.create(chat)
        .catch(() => null),
    );
    const reservedNow = async () => (await replica(0).admin('GET', `/api/budgets?connection=${id}`)).json.data[0];
    await vi.waitFor(async () => expect((await reservedNow()).reserved).toBeCloseTo(3 * COST_PER_REQUEST, 12), {
      timeout: 10_000,
      interval: 50,
    });
    // Alive, the victim renews its leases: the holds outlast the lease.
    await new Promise((resolve) => setTimeout(resolve, 3 * LEASE_MS));
    expect((await reservedNow()).reserved).toBeCloseTo(3 * COST_PER_REQUEST, 12);

    await stop(victim, 'SIGKILL');
    await Promise.all(hanging);
    await vi.waitFor(async () => expect(await reservedNow()).toMatchObject({ reserved: 0, used: 0, remaining: 1 }), {
      timeout: 10_000,
      interval: 100,
    });
  });
});
