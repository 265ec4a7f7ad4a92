// Starts the real gateway and the real mock upstream on loopback for end-to-end tests,
// with a temporary data dir, and gives the tests an admin client and official SDK clients.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { type GatewaySettings, loadConfig } from '../src/config/config.js';
import type { LogRecord } from '../src/domain.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { type MockUpstream, startMockUpstream } from '../src/mock-upstream/server.js';

export interface Stack {
  gateway: Gateway;
  mock: MockUpstream;
  adminToken: string;
  dataDir: string;
  /** Calls the admin API; returns status and parsed JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read many different admin answers
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** Creates a connection through the admin API; returns its id and key. */
  createConnection(body?: Record<string, unknown>): Promise<{ id: string; key: string }>;
  /** An official SDK client pointed at the gateway with this Usage Panda key (null: no key at all). */
  client(key: string | null, options?: { headers?: Record<string, string>; apiKey?: string }): OpenAI;
  /** The stored record of a request, after the log queue is drained. */
  record(requestId: string | null | undefined): Promise<LogRecord>;
  /** Takes the gateway and mock down but keeps the data dir, for a restart (`restartOf`). */
  stop(): Promise<void>;
  /** Takes everything down and removes the data dir. */
  close(): Promise<void>;
}

/** A provider key made at run time; never a real one. */
export const fakeProviderKey = () => `sk-test-${randomBytes(12).toString('hex')}`;

export interface StackOptions {
  /** YAML written to `<dataDir>/usage-panda.yaml` and passed as the config file (`--config`). */
  configYaml?: string;
  /** The environment the config is read with, for its `${ENV}` references. */
  env?: NodeJS.ProcessEnv;
  /** Start on the data dir (and admin token) of an earlier stack, as a restart does. */
  restartOf?: Pick<Stack, 'dataDir' | 'adminToken'>;
  /** The gateway's clock for limit and budget windows. */
  now?: () => number;
  /** The admin token, e.g. the one replicas sharing a store share. */
  adminToken?: string;
}

/** The path the harness writes `configYaml` to. */
export const configPath = (dataDir: string) => join(dataDir, 'usage-panda.yaml');

export async function startStack(
  settings: GatewaySettings & { configFile?: string } = {},
  options: StackOptions = {},
): Promise<Stack> {
  const mock = await startMockUpstream({ port: 0 });
  const dataDir = options.restartOf?.dataDir ?? (await mkdtemp(join(tmpdir(), 'usage-panda-test-')));
  const adminToken = options.restartOf?.adminToken ?? options.adminToken ?? `admin-${randomBytes(16).toString('hex')}`;
  let gateway: Gateway;
  try {
    let configFile: string | undefined;
    if (options.configYaml !== undefined) {
      configFile = configPath(dataDir);
      await writeFile(configFile, options.configYaml);
    }
    const config = await loadConfig(
      {
        port: 0,
        host: '127.0.0.1',
        dataDir,
        upstream: mock.url,
        adminToken,
        logLevel: 'silent',
        configFile,
        ...settings,
      },
      options.env ?? {},
    );
    gateway = await startGateway(config, { now: options.now });
  } catch (err) {
    // A start that fails (e.g. an invalid config file) leaves nothing running behind.
    await mock.close();
    if (!options.restartOf) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  const admin: Stack['admin'] = async (method, path, body) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  };

  const stop = async () => {
    await gateway.close();
    await mock.close();
  };

  return {
    gateway,
    mock,
    adminToken,
    dataDir,
    admin,
    async createConnection(body = {}) {
      const { status, json } = await admin('POST', '/api/connections', {
        name: `test-${randomBytes(4).toString('hex')}`,
        ...body,
      });
      if (status !== 201) throw new Error(`creating a connection answered ${status}: ${JSON.stringify(json)}`);
      return { id: json.id, key: json.key };
    },
    client(key, options = {}) {
      return new OpenAI({
        apiKey: options.apiKey ?? fakeProviderKey(),
        baseURL: `${gateway.url}/v1`,
        maxRetries: 0,
        defaultHeaders: { ...(key === null ? {} : { 'x-usagepanda-api-key': key }), ...options.headers },
      });
    },
    async record(requestId) {
      if (!requestId) throw new Error('the answer had no x-usagepanda-request-id header');
      await gateway.logWriter.drain();
      const found = await gateway.store.findLog(requestId);
      if (!found) throw new Error(`no log record ${requestId}`);
      return found;
    },
    stop,
    async close() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs an SDK call expected to fail and returns the APIError it threw. */
export async function apiError(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call;
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** A response body as JSON, loosely typed: tests assert on many different answer shapes. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export const readJson = async (response: Response): Promise<any> => response.json();
