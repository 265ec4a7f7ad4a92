// The declarative config file (--config): connections, auto-replies and defaults declared
// in YAML, applied at start, read-only in the admin API, and the keyless standalone mode.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { generateApiKey } from '../src/secrets/keys.js';
import { apiError, fakeProviderKey, type Stack, startStack } from './harness.js';

const running: Stack[] = [];
afterEach(async () => {
  for (const stack of running.splice(0)) await stack.close();
});

async function start(...args: Parameters<typeof startStack>): Promise<Stack> {
  const stack = await startStack(...args);
  running.push(stack);
  return stack;
}

/** A restart: the first gateway stops, a second starts on its data dir with a new file. */
async function restart(previous: Stack, configYaml: string, env: NodeJS.ProcessEnv): Promise<Stack> {
  running.splice(running.indexOf(previous), 1);
  await previous.stop();
  return start({}, { configYaml, env, restartOf: previous });
}

/** `${NAME}` as the config file writes an environment reference. */
const ref = (name: string) => `\${${name}}`;

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello' }] };

describe('config file connections', () => {
  it('serves a file connection with its key and policy, shown as managed by the file and read-only', async () => {
    const env = { PROD_UP_KEY: generateApiKey() };
    const stack = await start(
      {},
      {
        env,
        configYaml: [
          'connections:',
          '  - name: prod',
          `    key: ${ref('PROD_UP_KEY')}`,
          '    policy:',
          '      maxTokens: 100',
        ].join('\n'),
      },
    );
    const client = stack.client(env.PROD_UP_KEY);
    const allowed = await client.chat.completions.create({ ...chat, max_tokens: 50 }).withResponse();
    expect(allowed.data.object).toBe('chat.completion');
    const record = await stack.record(allowed.response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, connectionName: 'prod' });

    const blocked = await apiError(client.chat.completions.create({ ...chat, max_tokens: 500 }));
    expect(blocked.status).toBe(422);
    expect(blocked.message).toBe('422 Usage Panda: Config set to max tokens of: 100; request was: 500');

    const list = await stack.admin('GET', '/api/connections');
    const prod = list.json.data.find((c: { name: string }) => c.name === 'prod');
    expect(prod).toMatchObject({ managedBy: 'file', enabled: true, policy: { maxTokens: 100 } });
    const message = 'Usage Panda: connection prod is managed by the config file';
    const patch = await stack.admin('PATCH', `/api/connections/${prod.id}`, { policy: { maxTokens: 0 } });
    expect(patch).toEqual({
      status: 409,
      json: { error: { message, type: 'invalid_request', param: null, code: null } },
    });
    const rotate = await stack.admin('POST', `/api/connections/${prod.id}/rotate`);
    expect(rotate).toMatchObject({ status: 409, json: { error: { message } } });
    const remove = await stack.admin('DELETE', `/api/connections/${prod.id}`);
    expect(remove).toMatchObject({ status: 409, json: { error: { message } } });
    expect((await stack.admin('GET', `/api/connections/${prod.id}`)).json.policy.maxTokens).toBe(100);
    // Its name stays the file's: no API connection may take it.
    expect(await stack.admin('POST', '/api/connections', { name: 'prod' })).toMatchObject({
      status: 409,
      json: { error: { message } },
    });
    const other = await stack.createConnection({ name: 'other' });
    const rename = await stack.admin('PATCH', `/api/connections/${other.id}`, { name: 'prod' });
    expect(rename).toMatchObject({ status: 409, json: { error: { message } } });
  });

  it('updates a connection on restart with a changed file, and removes it once the file drops it', async () => {
    const env = { PROD_UP_KEY: generateApiKey(), TEAM_UP_KEY: generateApiKey() };
    const first = await start(
      {},
      {
        env,
        configYaml: [
          'defaults:',
          '  enforceUserIds: true',
          'connections:',
          '  - name: prod',
          `    key: ${ref('PROD_UP_KEY')}`,
          '    policy: { maxTokens: 100 }',
          '  - name: team',
          `    key: ${ref('TEAM_UP_KEY')}`,
        ].join('\n'),
      },
    );
    const before = await first.admin('GET', '/api/connections');
    const prodId = before.json.data.find((c: { name: string }) => c.name === 'prod').id;
    // Defaults are the base of every file connection's policy.
    const noUser = await apiError(first.client(env.TEAM_UP_KEY).chat.completions.create(chat));
    expect(noUser.message).toBe('422 Usage Panda: Config set to block requests without user field');

    const second = await restart(
      first,
      ['connections:', '  - name: prod', `    key: ${ref('PROD_UP_KEY')}`, '    policy: { maxTokens: 1000 }'].join(
        '\n',
      ),
      env,
    );
    const after = await second.admin('GET', '/api/connections');
    expect(after.json.data.map((c: { name: string }) => c.name)).toEqual(['prod']);
    // Updated in place: same id, same key, new policy.
    expect(after.json.data[0]).toMatchObject({ id: prodId, managedBy: 'file', policy: { maxTokens: 1000 } });
    const ok = await second.client(env.PROD_UP_KEY).chat.completions.create({ ...chat, max_tokens: 500 });
    expect(ok.object).toBe('chat.completion');

    const gone = await apiError(second.client(env.TEAM_UP_KEY).chat.completions.create(chat).withResponse());
    expect(gone.status).toBe(401);
    expect(gone.message).toBe('401 Usage Panda: invalid or missing API key');
  });

  it('sends the provider key named by an environment reference upstream and never shows it in the admin API or the records', async () => {
    const providerKey = fakeProviderKey();
    const env = { PROD_UP_KEY: generateApiKey(), OPENAI_KEY_PROD: providerKey };
    const stack = await start(
      {},
      {
        env,
        configYaml: [
          'connections:',
          '  - name: prod',
          `    key: ${ref('PROD_UP_KEY')}`,
          `    providerKey: ${ref('OPENAI_KEY_PROD')}`,
          '    policy: { logRequestBody: true, logResponseBody: true }',
        ].join('\n'),
      },
    );
    stack.mock.reset();
    // The Usage Panda key as the bearer token: the client sends no provider key of its own.
    const client = stack.client(null, { apiKey: env.PROD_UP_KEY });
    const { response } = await client.chat.completions.create(chat).withResponse();
    expect(stack.mock.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${providerKey}`]);

    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record.status).toBe(200);
    expect(JSON.stringify(record)).not.toContain(providerKey);
    const shown = JSON.stringify([
      await stack.admin('GET', '/api/connections'),
      await stack.admin('GET', '/api/logs'),
      await stack.admin('GET', `/api/logs/${record.id}`),
    ]);
    expect(shown).toContain('"hasProviderKey":true');
    expect(shown).not.toContain(providerKey);
    expect(shown).not.toContain(env.PROD_UP_KEY);
  });

  it('answers a file auto-reply without calling upstream, and replaces the set on restart', async () => {
    const env = { PROD_UP_KEY: generateApiKey(), TEAM_UP_KEY: generateApiKey() };
    const connections = [
      '  - name: prod',
      `    key: ${ref('PROD_UP_KEY')}`,
      '  - name: team',
      `    key: ${ref('TEAM_UP_KEY')}`,
    ];
    const first = await start(
      {},
      {
        env,
        configYaml: [
          'connections:',
          ...connections,
          'autoreplies:',
          '  - type: chat',
          '    request: What are your opening hours?',
          '    response: We are open 9 to 5.',
          '    connections: [prod]',
        ].join('\n'),
      },
    );
    first.mock.reset();
    const question = { ...chat, messages: [{ role: 'user' as const, content: 'What are your opening hours?' }] };
    const { data, response } = await first.client(env.PROD_UP_KEY).chat.completions.create(question).withResponse();
    expect(data.choices[0]?.message.content).toBe('We are open 9 to 5.');
    expect(first.mock.requests).toEqual([]);
    const record = await first.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({
      status: 200,
      costUsd: 0,
      flags: [{ type: 'policy_autoreply', description: 'Request matched known chat autoreply' }],
    });
    // Only on the connections it names.
    const other = await first.client(env.TEAM_UP_KEY).chat.completions.create(question);
    expect(other.choices[0]?.message.content).not.toBe('We are open 9 to 5.');
    expect(first.mock.requests).toHaveLength(1);

    const replies = await first.admin('GET', '/api/autoreplies');
    const prodId = (await first.admin('GET', '/api/connections')).json.data.find(
      (c: { name: string }) => c.name === 'prod',
    ).id;
    expect(replies.json.data).toMatchObject([{ managedBy: 'file', connections: [prodId] }]);
    const patch = await first.admin('PATCH', `/api/autoreplies/${replies.json.data[0].id}`, { response: 'x' });
    expect(patch.status).toBe(409);
    const byApi = await first.admin('POST', '/api/autoreplies', { type: 'chat', request: 'api', response: 'kept' });
    expect(byApi.status).toBe(201);

    const second = await restart(
      first,
      ['connections:', ...connections, 'autoreplies:', '  - { type: completion, request: ping, response: pong }'].join(
        '\n',
      ),
      env,
    );
    const after = (await second.admin('GET', '/api/autoreplies')).json.data;
    expect(after.map((r: { request: string; managedBy: string }) => [r.request, r.managedBy])).toEqual([
      ['api', 'api'],
      ['ping', 'file'],
    ]);
  });

  it('takes over an API connection of the same name, and refuses a key that belongs to another one', async () => {
    const first = await start();
    const made = await first.createConnection({ name: 'legacy' });
    const env = { LEGACY_UP_KEY: generateApiKey() };
    const second = await restart(
      first,
      ['connections:', '  - name: legacy', `    key: ${ref('LEGACY_UP_KEY')}`].join('\n'),
      env,
    );
    const legacy = (await second.admin('GET', `/api/connections/${made.id}`)).json;
    expect(legacy).toMatchObject({ name: 'legacy', managedBy: 'file' });
    expect((await apiError(second.client(made.key).chat.completions.create(chat))).status).toBe(401);
    expect((await second.client(env.LEGACY_UP_KEY).chat.completions.create(chat)).object).toBe('chat.completion');

    const other = await second.createConnection({ name: 'other' });
    running.splice(running.indexOf(second), 1);
    await second.stop();
    const refused = startStack(
      {},
      {
        env: { LEGACY_UP_KEY: env.LEGACY_UP_KEY, OTHER: other.key },
        configYaml: ['connections:', '  - name: stolen', `    key: ${ref('OTHER')}`].join('\n'),
        restartOf: second,
      },
    );
    await expect(refused).rejects.toThrow(
      new ConfigError(`connections[0].key (stolen): this key already belongs to connection other`),
    );
    await rm(second.dataDir, { recursive: true, force: true });
  });
});

describe('config file validation', () => {
  /** Writes the YAML and loads it; returns the error message. */
  async function problems(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const stack = startStack({}, { configYaml: yaml, env });
    const error = await stack.then(
      (started) => {
        running.push(started);
        throw new Error('the config was accepted');
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    // The harness writes the file into a temporary data dir; only the file name is stable.
    return (error as Error).message.replaceAll(/\S*usage-panda\.yaml/g, 'usage-panda.yaml');
  }

  const key = generateApiKey();

  it('names the file, the line and the field of a wrong value', async () => {
    const message = await problems(
      [
        '# production',
        'defaults:',
        '  retryCount: 2',
        'connections:',
        `  - name: prod`,
        `    key: ${key}`,
        '    policy:',
        '      maxTokens: lots',
        '      requestWordlists: { profanity: shout }',
      ].join('\n'),
    );
    expect(message.split('\n')).toEqual([
      'usage-panda.yaml:8: connections[0].policy.maxTokens: Invalid input: expected number, received string',
      expect.stringMatching(
        /^usage-panda\.yaml:9: connections\[0\]\.policy\.requestWordlists\.profanity: Invalid option/,
      ),
    ]);
  });

  it('names an unknown field, a malformed key, a missing name and an unknown connection of an auto-reply', async () => {
    const message = await problems(
      [
        'connections:',
        '  - name: prod',
        '    key: sk-not-ours',
        '    polcy: {}',
        `  - key: ${key}`,
        'autoreplies:',
        '  - type: chat',
        '    request: hi',
        '    response: hello',
        '    connections: [prod, staging]',
      ].join('\n'),
    );
    // Every problem at once, in the order of the file.
    expect(message.split('\n')).toEqual([
      'usage-panda.yaml:3: connections[0].key: expected a Usage Panda key: up- followed by 48 letters and digits',
      'usage-panda.yaml:4: connections[0].polcy: unknown field',
      'usage-panda.yaml:5: connections[1].name: required',
    ]);
    // Cross-field checks run once every field is well-formed.
    const crossed = await problems(
      [
        'connections:',
        `  - { name: prod, key: ${key} }`,
        'autoreplies:',
        '  - { type: chat, request: hi, response: hello, connections: [prod, staging] }',
      ].join('\n'),
    );
    expect(crossed).toBe('usage-panda.yaml:4: autoreplies[0].connections[1]: no connection named staging in this file');
  });

  it('names a missing environment variable and where it is used, without starting', async () => {
    const message = await problems(
      ['connections:', '  - name: prod', `    key: ${key}`, `    providerKey: ${ref('OPENAI_KEY_PROD')}`].join('\n'),
    );
    expect(message).toBe(
      'usage-panda.yaml:4: connections[0].providerKey: environment variable OPENAI_KEY_PROD is not set',
    );
  });

  it('reports YAML syntax errors with their line', async () => {
    const message = await problems('connections:\n  - name: prod\n   key: [unclosed\n');
    expect(message).toMatch(/^usage-panda\.yaml:3: .* at line 3, column 1/s);
  });
});

describe('the example config file', () => {
  it('is valid, and declares what the README says', async () => {
    const example = join(import.meta.dirname, '..', 'usage-panda.example.yaml');
    const env = { PROD_UP_KEY: generateApiKey(), LOCAL_UP_KEY: generateApiKey(), OPENAI_KEY_PROD: fakeProviderKey() };
    const config = await loadConfig({ configFile: example }, env);
    expect(config.file.connections.map((c) => c.name)).toEqual(['production', 'local-llm']);
    expect(config.file.autoreplies).toHaveLength(1);
    expect(config.file.standalone).toBe(false);
  });
});

describe('standalone mode', () => {
  const yaml = ['standalone: true', 'defaults:', '  maxTokens: 100'].join('\n');

  it('applies the default policy to requests without any key', async () => {
    const stack = await start({}, { configYaml: yaml });
    const client = stack.client(null);
    const blocked = await apiError(client.chat.completions.create({ ...chat, max_tokens: 500 }).withResponse());
    expect(blocked.status).toBe(422);
    expect(blocked.message).toBe('422 Usage Panda: Config set to max tokens of: 100; request was: 500');
    const blockedRecord = await stack.record(blocked.headers?.get('x-usagepanda-request-id'));
    expect(blockedRecord).toMatchObject({
      status: 422,
      connectionId: null,
      connectionName: 'default',
      flags: [{ type: 'policy_max_tokens' }],
    });

    const { data, response } = await client.chat.completions.create({ ...chat, max_tokens: 50 }).withResponse();
    expect(data.object).toBe('chat.completion');
    const record = await stack.record(response.headers.get('x-usagepanda-request-id'));
    expect(record).toMatchObject({ status: 200, connectionId: null, connectionName: 'default', flags: [] });

    // A key that is given must still be a real one.
    const wrong = await apiError(stack.client(generateApiKey()).chat.completions.create(chat));
    expect(wrong.status).toBe(401);
  });

  it('still needs a key when the file is not standalone', async () => {
    const stack = await start({}, { configYaml: 'defaults:\n  maxTokens: 100\n' });
    const denied = await apiError(stack.client(null).chat.completions.create(chat));
    expect(denied.status).toBe(401);
    expect(denied.message).toBe('401 Usage Panda: invalid or missing API key');
  });

  it('binds 127.0.0.1 unless --host or USAGE_PANDA_HOST says otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usage-panda-config-'));
    const file = join(dir, 'usage-panda.yaml');
    await writeFile(file, `${yaml}\n`);
    expect((await loadConfig({ configFile: file }, {})).host).toBe('127.0.0.1');
    expect((await loadConfig({ configFile: file }, { USAGE_PANDA_HOST: '0.0.0.0' })).host).toBe('0.0.0.0');
    expect((await loadConfig({ configFile: file, host: '::' }, {})).host).toBe('::');
    await writeFile(file, `${yaml}\ngateway:\n  host: 0.0.0.0\n`);
    await expect(loadConfig({ configFile: file }, {})).rejects.toThrow(
      `${file}:5: gateway.host: standalone mode needs no key, so it binds 127.0.0.1; use --host or USAGE_PANDA_HOST to bind elsewhere`,
    );
    await rm(dir, { recursive: true, force: true });
  });
});

describe('config file upstreams and targets', () => {
  const yaml = `
connections:
  - name: routed
    key: ${ref('ROUTED_UP_KEY')}
    targets:
      - { provider: anthropic, apiKey: "${ref('ANT_KEY')}", models: ["claude-*"] }
      - { provider: openai }
`;
  const claude = { model: 'claude-3-5-haiku-20241022', messages: [{ role: 'user' as const, content: 'hi' }] };

  it('routes by the file’s targets with their sealed keys, and rewrites them only when the file changes', async () => {
    const [firstKey, secondKey] = [fakeProviderKey(), fakeProviderKey()];
    const env = { ROUTED_UP_KEY: generateApiKey(), ANT_KEY: firstKey };
    const first = await start({ mockUpstream: true }, { configYaml: yaml, env });
    const sentKey = () =>
      first.gateway.mockUpstream?.requests.findLast((r) => r.path === '/v1/messages')?.headers['x-api-key'];
    const answer = await first.client(env.ROUTED_UP_KEY).chat.completions.create(claude);
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
    expect(sentKey()).toBe(firstKey);
    const listed = await first.admin('GET', '/api/connections');
    const before = listed.json.data.find((c: { name: string }) => c.name === 'routed');
    expect(before.targets).toEqual([
      { provider: 'anthropic', models: ['claude-*'], hasApiKey: true },
      { provider: 'openai', hasApiKey: false },
    ]);
    expect(JSON.stringify(listed.json)).not.toContain(firstKey);

    running.splice(running.indexOf(first), 1);
    await first.stop();
    const same = await start({ mockUpstream: true }, { configYaml: yaml, env, restartOf: first });
    const unchanged = (await same.admin('GET', `/api/connections/${before.id}`)).json;
    expect(unchanged.updatedAt).toBe(before.updatedAt);

    running.splice(running.indexOf(same), 1);
    await same.stop();
    const changed = await start(
      { mockUpstream: true },
      { configYaml: yaml, env: { ...env, ANT_KEY: secondKey }, restartOf: same },
    );
    await changed.client(env.ROUTED_UP_KEY).chat.completions.create(claude);
    expect(
      changed.gateway.mockUpstream?.requests.findLast((r) => r.path === '/v1/messages')?.headers['x-api-key'],
    ).toBe(secondKey);
  });
});
