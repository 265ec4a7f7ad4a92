// What a web page can do with the gateway: a Host that is not the gateway's (DNS rebinding)
// is refused everywhere, and a gateway that needs no key gives no CORS to, and refuses,
// pages of origins it does not list; a keyed gateway keeps `*`.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { generateApiKey } from '../src/secrets/keys.js';
import { type Stack, startStack } from './harness.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
const OPERATOR_KEY = `sk-operator-${randomBytes(8).toString('hex')}`;

let keyed: Stack;
let standalone: Stack;
let listed: Stack;
beforeAll(async () => {
  [keyed, standalone, listed] = await Promise.all([
    startStack({ allowedHosts: ['gateway.internal', '.example.com'] }),
    startStack({}, { configYaml: 'standalone: true\n', env: { OPENAI_API_KEY: OPERATOR_KEY } }),
    startStack(
      {},
      {
        configYaml: 'standalone: true\ngateway:\n  corsOrigins: [https://app.example.com]\n',
        env: { OPENAI_API_KEY: OPERATOR_KEY },
      },
    ),
  ]);
});
afterAll(async () => {
  await Promise.all([keyed?.close(), standalone?.close(), listed?.close()]);
});

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: answers of several shapes
  json: any;
}

/** A request with exactly these headers, Host included (fetch would set Host itself). */
function raw(stack: Stack, method: string, path: string, headers: Record<string, string>, body?: string) {
  const url = new URL(stack.gateway.url);
  return new Promise<RawAnswer>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : null }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const hostMessage = (host: string) =>
  `Usage Panda: host "${host}" is not allowed; add it to allowedHosts (USAGE_PANDA_ALLOWED_HOSTS, --allowed-hosts)`;
const originMessage = (origin: string) =>
  `Usage Panda: requests from web pages of origin "${origin}" are not allowed; add it to corsOrigins (USAGE_PANDA_CORS_ORIGINS, --cors-origins)`;
const ownHost = (stack: Stack) => new URL(stack.gateway.url).host;

describe('the Host check', () => {
  it('refuses a Host that is not the gateway’s with 421 in OpenAI’s shape, on /v1 and /api alike, before anything runs', async () => {
    const { key } = await keyed.createConnection();
    const before = keyed.mock.requests.length;
    const v1 = await raw(
      keyed,
      'POST',
      '/v1/chat/completions',
      {
        host: 'rebound.attacker.test:9000',
        'content-type': 'application/json',
        'x-usagepanda-api-key': key,
        authorization: 'Bearer sk-test',
      },
      JSON.stringify(chat),
    );
    expect(v1.status).toBe(421);
    expect(v1.json).toEqual({
      error: { message: hostMessage('rebound.attacker.test:9000'), type: 'invalid_request', param: null, code: null },
    });
    expect(v1.headers['x-usagepanda-request-id']).toBeUndefined();
    expect(keyed.mock.requests.length).toBe(before);

    const admin = await raw(keyed, 'GET', '/api/connections', {
      host: 'rebound.attacker.test',
      authorization: `Bearer ${keyed.adminToken}`,
    });
    expect(admin.status).toBe(421);
    expect(admin.json.error.message).toBe(hostMessage('rebound.attacker.test'));
    // A path without the /v1 prefix goes to the proxy through the router: refused the same.
    expect((await raw(keyed, 'GET', '/models', { host: 'rebound.attacker.test' })).status).toBe(421);
    expect((await raw(keyed, 'GET', '/v1/models', { host: '' })).status).toBe(421);
  });

  it('answers loopback names, the listed hosts and their subdomains, and health checks from any Host', async () => {
    const { key } = await keyed.createConnection();
    const port = new URL(keyed.gateway.url).port;
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      'app.localhost',
      'GATEWAY.internal:443',
      'example.com',
      'api.example.com',
    ]) {
      const answer = await raw(keyed, 'GET', '/v1/models', {
        host,
        'x-usagepanda-api-key': key,
        authorization: 'Bearer sk-test',
      });
      expect([host, answer.status]).toEqual([host, 200]);
    }
    for (const host of ['gateway.internal.attacker.test', 'notexample.com', 'example.com.attacker.test']) {
      expect((await raw(keyed, 'GET', '/v1/models', { host, 'x-usagepanda-api-key': key })).status).toBe(421);
    }
    expect((await raw(keyed, 'GET', '/healthz', { host: 'pod-10-1-2-3.internal' })).status).toBe(200);
  });
});

describe('CORS and origins on a gateway that needs no key', () => {
  it('refuses a request from another origin’s web page with 403 and sends nothing upstream', async () => {
    const before = standalone.mock.requests.length;
    // What a page elsewhere can send without a preflight: a "simple" text/plain POST.
    const answer = await raw(
      standalone,
      'POST',
      '/v1/chat/completions',
      {
        host: ownHost(standalone),
        origin: 'https://evil.example',
        'content-type': 'text/plain',
      },
      JSON.stringify(chat),
    );
    expect(answer.status).toBe(403);
    expect(answer.json).toEqual({
      error: { message: originMessage('https://evil.example'), type: 'access_denied', param: null, code: null },
    });
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(standalone.mock.requests.length).toBe(before);
  });

  it('gives no CORS to another origin’s preflight', async () => {
    const preflight = await raw(standalone, 'OPTIONS', '/v1/chat/completions', {
      host: ownHost(standalone),
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('still serves clients that are not web pages, with the operator’s key', async () => {
    const { data, response } = await standalone.client(null).chat.completions.create(chat).withResponse();
    expect(data.choices[0]?.message.content).toBe('Echo: hi');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect((await standalone.record(response.headers.get('x-usagepanda-request-id'))).status).toBe(200);
  });

  it('gives CORS to the configured origins only, never upstream’s own', async () => {
    const origin = 'https://app.example.com';
    const preflight = await raw(listed, 'OPTIONS', '/v1/chat/completions', {
      host: ownHost(listed),
      origin,
      'access-control-request-method': 'POST',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': origin, vary: 'origin' });

    const answer = await raw(
      listed,
      'POST',
      '/v1/chat/completions',
      {
        host: ownHost(listed),
        origin,
        'content-type': 'application/json',
        'x-mock-answer-headers': JSON.stringify({ 'access-control-allow-origin': '*' }),
      },
      JSON.stringify(chat),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers['access-control-allow-origin']).toBe(origin);
    expect(answer.json.choices[0].message.content).toBe('Echo: hi');

    const other = await raw(
      listed,
      'POST',
      '/v1/chat/completions',
      {
        host: ownHost(listed),
        origin: 'https://app.example.com.attacker.test',
        'content-type': 'text/plain',
      },
      JSON.stringify(chat),
    );
    expect(other.status).toBe(403);
  });

  it('counts USAGE_PANDA_API_KEY as needing no key: the same origin rules apply', async () => {
    const key = generateApiKey();
    const stack = await startStack(
      {},
      {
        configYaml: `connections:\n  - name: web\n    key: ${key}\n`,
        env: { USAGE_PANDA_API_KEY: key, OPENAI_API_KEY: OPERATOR_KEY },
      },
    );
    try {
      const refused = await raw(
        stack,
        'POST',
        '/v1/chat/completions',
        {
          host: ownHost(stack),
          origin: 'https://evil.example',
          'content-type': 'text/plain',
        },
        JSON.stringify(chat),
      );
      expect(refused.status).toBe(403);
      const served = await stack.client(null).chat.completions.create(chat);
      expect(served.choices[0]?.message.content).toBe('Echo: hi');
    } finally {
      await stack.close();
    }
  });
});

describe('CORS on a keyed gateway', () => {
  it('keeps `*` for every origin, whatever upstream sends', async () => {
    const { key } = await keyed.createConnection();
    const preflight = await raw(keyed, 'OPTIONS', '/v1/chat/completions', {
      host: ownHost(keyed),
      origin: 'https://any.example',
      'access-control-request-method': 'POST',
    });
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    const { response } = await keyed
      .client(key)
      .chat.completions.create(chat, {
        headers: {
          origin: 'https://any.example',
          'x-mock-answer-headers': JSON.stringify({ 'access-control-allow-origin': 'https://upstream.example' }),
        },
      })
      .withResponse();
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('allowedHosts and corsOrigins settings', () => {
  it('reads them from the config file, the environment and flags, and explains a bad value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usage-panda-access-'));
    try {
      const file = join(dir, 'usage-panda.yaml');
      await writeFile(file, 'gateway:\n  allowedHosts: [gw.example.com]\n  corsOrigins: [https://a.example]\n');
      const fromFile = await loadConfig({ configFile: file }, {});
      expect([fromFile.allowedHosts, fromFile.corsOrigins]).toEqual([['gw.example.com'], ['https://a.example']]);
      const fromEnv = await loadConfig(
        { configFile: file },
        { USAGE_PANDA_ALLOWED_HOSTS: 'a.example, .B.example', USAGE_PANDA_CORS_ORIGINS: 'https://App.example:8443/' },
      );
      expect([fromEnv.allowedHosts, fromEnv.corsOrigins]).toEqual([
        ['a.example', '.b.example'],
        ['https://app.example:8443'],
      ]);
      const fromFlags = await loadConfig({ configFile: file, allowedHosts: ['[::1]', '10.0.0.5'] }, {});
      expect(fromFlags.allowedHosts).toEqual(['::1', '10.0.0.5']);
      await expect(loadConfig({}, { USAGE_PANDA_ALLOWED_HOSTS: 'evil.example/path' })).rejects.toThrow(ConfigError);
      await expect(loadConfig({}, { USAGE_PANDA_CORS_ORIGINS: 'https://a.example/app' })).rejects.toThrow(
        'invalid configuration in environment: corsOrigins.0: expected an origin such as https://app.example.com, got https://a.example/app',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks no Host on a keyed gateway bound to every address unless hosts are listed', async () => {
    const { browserAccess } = await import('../src/browser-access.js');
    const open = browserAccess({ listenHost: '0.0.0.0', keyless: false });
    expect(open.checksHost).toBe(false);
    expect(open.hostRefusal({ host: 'anything.example' }, '/v1/models')).toBeNull();
    const listedHosts = browserAccess({ listenHost: '0.0.0.0', keyless: false, allowedHosts: ['gw.example'] });
    expect(listedHosts.hostRefusal({ host: 'anything.example' }, '/v1/models')?.status).toBe(421);
    const keyless = browserAccess({ listenHost: '0.0.0.0', keyless: true });
    expect(keyless.hostRefusal({ host: '10.0.0.5:9000' }, '/v1/models')?.status).toBe(421);
  });
});
