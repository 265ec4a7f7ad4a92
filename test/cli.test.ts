// The command line as a user runs it: start on an empty data dir, restart on existing data,
// keys create / list / revoke, and no provider key in anything the process prints.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockUpstream } from '../src/mock-upstream/server.js';
import { fakeProviderKey, readJson } from './harness.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli.ts')];

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'usage-panda-cli-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

/** Environment without anything of the developer's that the gateway reads. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('USAGE_PANDA_') || name === 'OPENAI_API_KEY' || name === 'DATABASE_URL') {
      delete env[name];
    }
  }
  return { ...env, ...extra };
}

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { env: cleanEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  stop(): Promise<number | null>;
}

async function start(args: string[], dir = dataDir): Promise<Running> {
  const child = spawn(process.execPath, [...CLI, 'start', '--port', '0', '--data', dir, ...args], {
    env: cleanEnv(),
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 60_000);
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', () => reject(new Error(`gateway exited:\n${output}`)));
  });
  return {
    child,
    url,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        child.on('close', resolve);
        child.kill('SIGTERM');
      }),
  };
}

// Each test spawns the CLI several times; under tsx on a busy machine a start takes seconds.
describe('usage-panda CLI', { timeout: 180_000 }, () => {
  it('starts on an empty data dir, prints the admin token once, and restarts on existing data', async () => {
    const created = await run(['keys', 'create', '--name', 'cli-test', '--enforce-user-ids', '--data', dataDir]);
    expect(created.code).toBe(0);
    const key = /Key \(shown once\): (up-[A-Za-z0-9]{48})/.exec(created.stdout)?.[1];
    expect(key).toBeDefined();
    expect((await stat(join(dataDir, 'secret.key'))).mode & 0o777).toBe(0o600);

    const first = await start(['--mock-upstream']);
    const token = /Admin token \(shown once, keep it safe\): (\S+)/.exec(first.output())?.[1];
    expect(token).toBeDefined();
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    const providerKey = fakeProviderKey();
    const client = new OpenAI({
      apiKey: providerKey,
      baseURL: `${first.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { 'x-usagepanda-api-key': key ?? '' },
    });
    const blocked = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .catch((err) => err);
    expect(blocked.status).toBe(422);
    const answer = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      user: 'u1',
    });
    expect(answer.choices[0]?.message.content).toBe('Echo: hi');
    expect(await first.stop()).toBe(0);

    // Restart: same data, the key still works, no new admin token, the log survived the drain.
    const second = await start(['--mock-upstream']);
    expect(second.output()).not.toContain('Admin token');
    const logs = await fetch(`${second.url}/api/logs`, { headers: { authorization: `Bearer ${token}` } });
    expect(logs.status).toBe(200);
    const records = (await readJson(logs)).data as { status: number }[];
    expect(records.map((r) => r.status)).toEqual([200, 422]);
    const again = new OpenAI({
      apiKey: providerKey,
      baseURL: `${second.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { 'x-usagepanda-api-key': key ?? '' },
    });
    expect((await again.models.list()).data.length).toBeGreaterThan(0);
    expect(await second.stop()).toBe(0);

    const everything = first.output() + second.output() + JSON.stringify(records);
    expect(everything).not.toContain(providerKey);
  });

  it('on SIGTERM finishes the request in flight, writes its record, and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usage-panda-drain-'));
    const created = await run(['keys', 'create', '--name', 'drain-test', '--data', dir]);
    const key = /Key \(shown once\): (up-[A-Za-z0-9]{48})/.exec(created.stdout)?.[1] ?? '';
    // The mock runs here, so the test sees the moment the request reaches the upstream.
    const mock = await startMockUpstream({ port: 0 });
    const gateway = await start(['--upstream', mock.url], dir);
    const client = new OpenAI({
      apiKey: 'sk-anything',
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { 'x-usagepanda-api-key': key, 'x-mock-latency-ms': '1500' },
    });
    const inFlight = client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow one' }] })
      .withResponse();
    while (!mock.requests.some((r) => r.path.endsWith('/chat/completions'))) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const exited = gateway.stop();
    const { data, response } = await inFlight;
    expect(data.choices[0]?.message.content).toBe('Echo: slow one');
    expect(await exited).toBe(0);

    const requestId = response.headers.get('x-usagepanda-request-id');
    const again = await start([], dir);
    const token = /Admin token \(shown once, keep it safe\): (\S+)/.exec(gateway.output())?.[1];
    const record = await fetch(`${again.url}/api/logs/${requestId}`, {
      headers: { authorization: `Bearer ${token ?? ''}` },
    });
    const stored = await readJson(record);
    await again.stop();
    await mock.close();
    await rm(dir, { recursive: true, force: true });
    expect(record.status).toBe(200);
    expect(stored.status).toBe(200);
  });

  it('lists and revokes keys', async () => {
    const created = await run(['keys', 'create', '--name', 'to-revoke', '--data', dataDir]);
    const id = /\((conn_[A-Za-z0-9]+)\)/.exec(created.stdout)?.[1];
    expect(id).toBeDefined();
    const list = await run(['keys', 'list', '--data', dataDir]);
    expect(list.stdout).toContain('to-revoke');
    expect(list.stdout).not.toMatch(/up-[A-Za-z0-9]{48}/);
    const revoked = await run(['keys', 'revoke', id ?? '', '--data', dataDir]);
    expect(revoked.code).toBe(0);
    expect((await run(['keys', 'list', '--data', dataDir])).stdout).not.toContain('to-revoke');
    const missing = await run(['keys', 'revoke', 'conn_nope', '--data', dataDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no connection with id conn_nope');
  });

  it('refuses an invalid port with a clear message', async () => {
    const result = await run(['start', '--port', 'ninety', '--data', dataDir]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('expected a port number');
  });

  it('refuses to start on an invalid config file, naming the file, the line and the field', async () => {
    const file = join(dataDir, 'bad-config.yaml');
    await writeFile(file, 'connections:\n  - name: prod\n    key: up-short\n');
    const result = await run(['start', '--config', file, '--data', dataDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `usage-panda: ${file}:3: connections[0].key: expected a Usage Panda key: up- followed by 48 letters and digits\n`,
    );
  });
});
