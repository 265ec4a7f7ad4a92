// Connections with provider upstreams and routing targets: validation and secrets in the
// admin API, the fallback from a failing target, cooldowns and weighted balancing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError, fakeProviderKey, type Stack, startStack } from './harness.js';

// Provider keys made at run time: never a real one.
const SECRET_KEY = fakeProviderKey();
const KEPT_KEY = fakeProviderKey();
const NEW_KEY = fakeProviderKey();
const OTHER_KEY = fakeProviderKey();

let stack: Stack;
/** The mock's origin; a base URL under `/__mock/status/NNN` answers NNN to everything. */
let origin: string;
beforeAll(async () => {
  stack = await startStack({ targetFailuresBeforeCooldown: 2 });
  origin = new URL(stack.mock.url).origin;
});
afterAll(() => stack?.close());

const chat = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });
const down = (status: number) => `${origin}/__mock/status/${status}/v1`;

describe('Upstreams and targets in the admin API', () => {
  it('stores a provider upstream with its key encrypted and never returns the key', async () => {
    const { status, json } = await stack.admin('POST', '/api/connections', {
      name: 'claude',
      upstream: { provider: 'anthropic', apiKey: SECRET_KEY },
      targets: [{ provider: 'azure', baseUrl: 'https://res.openai.azure.com', apiKey: 'az-secret', weight: 2 }],
    });
    expect(status).toBe(201);
    expect(json.upstream).toEqual({ provider: 'anthropic', hasApiKey: true });
    expect(json.targets).toEqual([
      { provider: 'azure', baseUrl: 'https://res.openai.azure.com', weight: 2, hasApiKey: true },
    ]);
    const read = await stack.admin('GET', `/api/connections/${json.id}`);
    expect(JSON.stringify(read.json)).not.toMatch(/secret|Encrypted/);
    const stored = await stack.gateway.store.findConnectionById(json.id);
    expect(JSON.stringify(stored)).not.toContain(SECRET_KEY);
  });

  it('refuses an unknown provider and a model pattern with an inner * with 400', async () => {
    const bad = await stack.admin('POST', '/api/connections', { name: 'x', upstream: { provider: 'palm' } });
    expect(bad.status).toBe(400);
    const pattern = await stack.admin('POST', '/api/connections', {
      name: 'y',
      targets: [{ provider: 'openai', models: ['gpt-*-mini'] }],
    });
    expect(pattern.status).toBe(400);
    expect(JSON.stringify(pattern.json)).toContain('only a trailing * is allowed');
  });
  it("keeps a target's stored secrets on update when it names the current target in keepSecretsOf", async () => {
    const created = await stack.admin('POST', '/api/connections', {
      name: 'keeps-secrets',
      targets: [
        { provider: 'anthropic', apiKey: KEPT_KEY, weight: 2 },
        { provider: 'bedrock', region: 'eu-west-1', accessKeyId: 'AKIAKEPT', secretAccessKey: 'aws-kept' },
      ],
    });
    expect(created.status).toBe(201);
    const before = await stack.gateway.store.findConnectionById(created.json.id);
    // Reordered, the anthropic one edited without its key, the bedrock one keeping its secret.
    const patched = await stack.admin('PATCH', `/api/connections/${created.json.id}`, {
      targets: [
        { provider: 'bedrock', region: 'eu-west-1', accessKeyId: 'AKIAKEPT', keepSecretsOf: 1 },
        { provider: 'anthropic', weight: 5, keepSecretsOf: 0 },
        { provider: 'anthropic' },
      ],
    });
    expect(patched.status).toBe(200);
    expect(patched.json.targets).toEqual([
      { provider: 'bedrock', region: 'eu-west-1', accessKeyId: 'AKIAKEPT', hasApiKey: false, hasSecretAccessKey: true },
      { provider: 'anthropic', weight: 5, hasApiKey: true },
      { provider: 'anthropic', hasApiKey: false },
    ]);
    const after = await stack.gateway.store.findConnectionById(created.json.id);
    expect(after?.targets[0]?.secretAccessKeyEncrypted).toBe(before?.targets[1]?.secretAccessKeyEncrypted);
    expect(after?.targets[1]?.apiKeyEncrypted).toBe(before?.targets[0]?.apiKeyEncrypted);
    // Without its access key id a Bedrock target keeps no secret: it has no credentials then.
    const dropped = await stack.admin('PATCH', `/api/connections/${created.json.id}`, {
      targets: [
        { provider: 'bedrock', region: 'eu-west-1', keepSecretsOf: 0 },
        { provider: 'anthropic', keepSecretsOf: 1 },
      ],
    });
    expect(dropped.status).toBe(200);
    expect(dropped.json.targets[0]).toEqual({
      provider: 'bedrock',
      region: 'eu-west-1',
      hasApiKey: false,
      hasSecretAccessKey: false,
    });
    // A new key given beside keepSecretsOf replaces the stored one.
    const replaced = await stack.admin('PATCH', `/api/connections/${created.json.id}`, {
      targets: [{ provider: 'anthropic', apiKey: NEW_KEY, keepSecretsOf: 1 }],
    });
    expect(replaced.status).toBe(200);
    const last = await stack.gateway.store.findConnectionById(created.json.id);
    expect(last?.targets[0]?.apiKeyEncrypted).not.toBe(after?.targets[1]?.apiKeyEncrypted);
    expect(stack.gateway.connections.open(last?.targets[0]?.apiKeyEncrypted ?? '')).toBe(NEW_KEY);
  });

  it('refuses keepSecretsOf naming a missing target or one of another provider with 400', async () => {
    const { json } = await stack.admin('POST', '/api/connections', {
      name: 'keeps-nothing',
      targets: [{ provider: 'anthropic', apiKey: OTHER_KEY }],
    });
    const missing = await stack.admin('PATCH', `/api/connections/${json.id}`, {
      targets: [{ provider: 'anthropic', keepSecretsOf: 3 }],
    });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toBe('Usage Panda: targets.0.keepSecretsOf: the connection has no target 3');
    const other = await stack.admin('PATCH', `/api/connections/${json.id}`, {
      targets: [{ provider: 'gemini', keepSecretsOf: 0 }],
    });
    expect(other.status).toBe(400);
    expect(other.json.error.message).toBe(
      'Usage Panda: targets.0.keepSecretsOf: target 0 has provider anthropic, not gemini',
    );
    const created = await stack.admin('POST', '/api/connections', {
      name: 'no-keep-on-create',
      targets: [{ provider: 'anthropic', keepSecretsOf: 0 }],
    });
    expect(created.status).toBe(400);
  });
});

describe('Routing', () => {
  it('falls back from a target answering 429 to the next, both attempts on the record', async () => {
    const { key } = await stack.createConnection({ targets: [down(429), stack.mock.url] });
    const { data, response } = await stack.client(key).chat.completions.create(chat('hello')).withResponse();
    expect(response.status).toBe(200);
    expect(data.choices[0]?.message.content).toBe('Echo: hello');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.status).toBe(200);
    expect(record.provider).toBe('openai');
    expect(record.attempts.map(({ provider, target, status }) => ({ provider, target, status }))).toEqual([
      { provider: 'openai', target: 0, status: 429 },
      { provider: 'openai', target: 1, status: 200 },
    ]);
  });

  it('falls back on a connect error, and gives the last target’s error when every target fails', async () => {
    const { key } = await stack.createConnection({ targets: ['http://127.0.0.1:1/v1', down(503)] });
    const err = await apiError(stack.client(key).chat.completions.create(chat('hi')));
    expect(err.status).toBe(503);
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.attempts.map((a) => [a.target, a.status])).toEqual([
      [0, null],
      [1, 503],
    ]);
    expect(record.attempts[0]?.error).toMatch(/^Usage Panda: upstream unreachable/);
  });

  it('does not fall back on a 400: the request is at fault, not the target', async () => {
    const { key } = await stack.createConnection({ targets: [stack.mock.url, down(500)] });
    const err = await apiError(stack.client(key).chat.completions.create({ model: '', messages: [] }));
    expect(err.status).toBe(400);
    const record = await stack.record(err.headers?.get('x-usagepanda-request-id'));
    expect(record.attempts).toHaveLength(1);
  });

  it('sends a model to the first target serving it, with the target’s model map', async () => {
    const { key } = await stack.createConnection({
      targets: [
        { provider: 'openai', baseUrl: down(500), models: ['o4-*'] },
        {
          provider: 'openai',
          baseUrl: stack.mock.url,
          models: ['gpt-4o-mini'],
          modelMap: { 'gpt-4o-mini': 'gpt-4.1-mini' },
        },
      ],
    });
    stack.mock.reset();
    const { data, response } = await stack.client(key).chat.completions.create(chat('map me')).withResponse();
    expect(data.model).toBe('gpt-4.1-mini');
    expect(stack.mock.requests.at(-1)?.json).toMatchObject({ model: 'gpt-4.1-mini' });
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.model).toBe('gpt-4o-mini');
    expect(record.attempts.map((a) => a.target)).toEqual([1]);
    const err = await apiError(stack.client(key).chat.completions.create({ ...chat('x'), model: 'claude-3' }));
    expect(err.status).toBe(400);
    expect(err.error).toEqual({
      message: 'Usage Panda: no target of this connection serves model claude-3',
      type: 'invalid_request',
      param: null,
      code: null,
    });
  });

  it('cools a target down after it failed twice in a row (the configured count) and skips it', async () => {
    const { key } = await stack.createConnection({ targets: [down(502), stack.mock.url] });
    const client = stack.client(key);
    for (let i = 0; i < 2; i++) {
      const { response } = await client.chat.completions.create(chat('warm')).withResponse();
      expect((await stack.record(response.headers.get('x-usagepanda-request-id'))).attempts).toHaveLength(2);
    }
    const { response } = await client.chat.completions.create(chat('cool')).withResponse();
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.attempts.map((a) => [a.target, a.status])).toEqual([[1, 200]]);
  });

  it('balances 1,000 requests 3:1 by weight, within five standard deviations', { timeout: 180_000 }, async () => {
    const { id, key } = await stack.createConnection({
      targets: [
        { provider: 'openai', baseUrl: stack.mock.url, weight: 3 },
        { provider: 'openai', baseUrl: stack.mock.url, weight: 1 },
      ],
    });
    const client = stack.client(key);
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(Array.from({ length: 20 }, () => client.chat.completions.create(chat('w'))));
    }
    await stack.gateway.logWriter.drain();
    const targets: (number | undefined)[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: { data: { attempts: { target?: number }[] }[]; nextCursor: string | null } } =
        await stack.admin('GET', `/api/logs?connection=${id}&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      for (const record of page.json.data) targets.push(record.attempts[0]?.target);
      cursor = page.json.nextCursor;
    } while (cursor);
    expect(targets).toHaveLength(1000);
    const first = targets.filter((t) => t === 0).length;
    // Binomial(1000, 0.75): mean 750, standard deviation about 13.7.
    expect(Math.abs(first - 750)).toBeLessThan(69);
  });
});
