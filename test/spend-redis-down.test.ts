// The gateway when its Redis goes away and comes back: a Redis server of this test's own
// (another port, nothing saved) is stopped mid-test. Connections that say deny get 503,
// those that say allow are served and flagged, connections without limits never notice;
// /readyz and /metrics say so; all is as before once Redis returns.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiError, readJson, type Stack, startStack } from './harness.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      output += d;
      if (output.includes('Ready to accept connections')) resolve(child);
    });
    child.on('exit', () => reject(new Error(`redis-server exited:\n${output}`)));
  });
}

function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

let port: number;
let redis: ChildProcess;
let stack: Stack;
beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  stack = await startStack({ redisUrl: `redis://127.0.0.1:${port}` });
}, 60_000);
afterAll(async () => {
  await stack?.close();
  if (redis) await stopRedis(redis);
});

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 10 };
const limits = [{ per: 'connection', window: 'minute', requests: 1000 }];

async function readyz(): Promise<{ status: string; state: { kind: string; available: boolean } }> {
  return readJson(await fetch(`${stack.gateway.url}/readyz`));
}

describe('Redis stopped while the gateway runs', () => {
  it('refuses deny connections with 503, serves allow connections flagged, and recovers when Redis is back', async () => {
    const deny = stack.client((await stack.createConnection({ policy: { limits } })).key);
    const allow = stack.client((await stack.createConnection({ policy: { limits, onStateUnavailable: 'allow' } })).key);
    const unlimited = stack.client((await stack.createConnection()).key);
    await deny.chat.completions.create(chat);
    expect(await readyz()).toEqual({
      status: 'ready',
      state: { kind: 'redis', available: true },
      store: { available: true, spooled: 0 },
    });

    await stopRedis(redis);
    await vi.waitFor(async () => expect((await readyz()).state.available).toBe(false), { timeout: 10_000 });
    expect((await readyz()).status).toBe('ready');

    const refused = await apiError(deny.chat.completions.create(chat));
    expect(refused.status).toBe(503);
    expect(refused.error).toEqual({
      message: 'Usage Panda: limits unavailable',
      type: 'service_unavailable',
      param: null,
      code: null,
    });
    expect(await stack.record(refused.headers?.get('x-usagepanda-request-id'))).toMatchObject({
      status: 503,
      flags: [{ type: 'policy_limits_unavailable', description: 'Limits unavailable: request refused' }],
    });

    const served = await allow.chat.completions.create(chat).withResponse();
    expect(served.data.choices[0]?.message.content).toBe('Echo: hi');
    expect(await stack.record(served.response.headers.get('x-usagepanda-request-id'))).toMatchObject({
      status: 200,
      flags: [
        { type: 'policy_limits_unavailable', description: 'Limits unavailable: served without limits and budgets' },
      ],
    });
    const plain = await unlimited.chat.completions.create(chat).withResponse();
    expect((await stack.record(plain.response.headers.get('x-usagepanda-request-id'))).flags).toEqual([]);

    const metrics = await (await fetch(`${stack.gateway.url}/metrics`)).text();
    expect(metrics).toContain('usage_panda_state_unavailable_total{outcome="denied"} 1');
    expect(metrics).toContain('usage_panda_state_unavailable_total{outcome="allowed"} 1');

    redis = await startRedis(port);
    await vi.waitFor(async () => expect((await readyz()).state.available).toBe(true), { timeout: 10_000 });
    const back = await deny.chat.completions.create(chat).withResponse();
    expect(back.response.status).toBe(200);
    expect(back.response.headers.get('x-ratelimit-remaining-requests')).toBe('999');
  });
});
