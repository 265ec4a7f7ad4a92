// The Dockerfile and docker-compose.yml, checked without Docker: the image's start command,
// run directly (src/cli.ts under tsx for dist/cli.js) with the image's and the compose file's
// environment, starts two gateways at once against the local PostgreSQL and Redis (the
// compose services' host names mapped to loopback); both answer /readyz, the image's health
// check passes, they share their connections, and SIGTERM stops them cleanly.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { POSTGRES_URL } from './store-targets.js';

const ROOT = join(import.meta.dirname, '..');
const REDIS_URL = process.env.USAGE_PANDA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const schema = `test_deploy_${randomBytes(6).toString('hex')}`;
const adminToken = `admin-${randomBytes(16).toString('hex')}`;
const secret = randomBytes(24).toString('hex');

async function sql(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(statement);
  await client.end();
}

/** The last stage of the Dockerfile: its ENV settings, CMD and HEALTHCHECK command. */
async function readDockerfile() {
  const text = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
  const stage = text.slice(text.lastIndexOf('\nFROM '));
  const env = Object.fromEntries(
    [...stage.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
  const json = (instruction: string) => {
    const match = new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(stage);
    if (!match?.[1]) throw new Error(`no ${instruction} in the Dockerfile's last stage`);
    return JSON.parse(match[1]) as string[];
  };
  const health = /^HEALTHCHECK .*CMD (\[.*\])$/m.exec(stage)?.[1];
  return { env, cmd: json('CMD'), health: health ? (JSON.parse(health) as string[]) : [] };
}

/** The compose file's gateway environment with `${NAME:?…}` and `${NAME:-default}` filled from `given`. */
async function composeEnvironment(given: Record<string, string>) {
  const compose = parse(await readFile(join(ROOT, 'docker-compose.yml'), 'utf8'));
  const gateway = compose.services.gateway;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(gateway.environment as Record<string, string>)) {
    env[name] = value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_all, ref: string, kind?: string, rest?: string) => {
      if (given[ref] !== undefined) return given[ref];
      if (kind === '?') throw new Error(`compose needs ${ref}: ${rest}`);
      return rest ?? '';
    });
  }
  return { compose, env };
}

interface Running {
  child: ChildProcess;
  url: string;
  stop(): Promise<number | null>;
}

async function startImageCommand(cmd: string[], env: Record<string, string>, dataDir: string): Promise<Running> {
  // The image runs `node dist/cli.js …`; here the same CLI from source.
  const args = cmd
    .slice(1)
    .map((arg) => (arg === 'dist/cli.js' ? join(ROOT, 'src/cli.ts') : arg === '/var/lib/usage-panda' ? dataDir : arg));
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 60_000);
    child.stdout?.on('data', () => {
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${match[1]}`);
      }
    });
    child.on('exit', () => reject(new Error(`gateway exited:\n${output}`)));
  });
  return {
    child,
    url,
    stop: () =>
      new Promise((resolve) => {
        child.on('close', resolve);
        child.kill('SIGTERM');
      }),
  };
}

let dockerfile: Awaited<ReturnType<typeof readDockerfile>>;
let composed: Awaited<ReturnType<typeof composeEnvironment>>;
const gateways: Running[] = [];
const dataDirs: string[] = [];

beforeAll(async () => {
  dockerfile = await readDockerfile();
  composed = await composeEnvironment({ USAGE_PANDA_ADMIN_TOKEN: adminToken, USAGE_PANDA_SECRET: secret });
  await sql(`create schema ${schema}`);
  // The compose services' host names, mapped to this machine's PostgreSQL (in a schema of its own) and Redis.
  const database = new URL(POSTGRES_URL);
  database.searchParams.set('options', `-c search_path=${schema}`);
  const env = {
    ...dockerfile.env,
    ...composed.env,
    DATABASE_URL: database.toString(),
    REDIS_URL,
    // Several on one machine: each takes a free port instead of the image's 9000.
    USAGE_PANDA_PORT: '0',
  };
  for (let i = 0; i < 2; i++) dataDirs.push(await mkdtemp(join(tmpdir(), 'usage-panda-deploy-')));
  // Started together, as `docker compose up` does: the migrations must not trip over each other.
  gateways.push(...(await Promise.all(dataDirs.map((dir) => startImageCommand(dockerfile.cmd, env, dir)))));
}, 120_000);
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  await sql(`drop schema if exists ${schema} cascade`);
});

describe('deployment files', () => {
  it('builds an image that listens on all interfaces at 9000 and starts the CLI with a data dir', () => {
    expect(dockerfile.env).toMatchObject({ USAGE_PANDA_HOST: '0.0.0.0', USAGE_PANDA_PORT: '9000' });
    expect(dockerfile.cmd).toEqual(['node', 'dist/cli.js', 'start', '--data', '/var/lib/usage-panda']);
  });

  it('composes gateways on the postgres and redis services, with the admin token and secret required', async () => {
    expect(composed.compose.services.gateway.deploy.replicas).toBeGreaterThan(1);
    expect(Object.keys(composed.compose.services).sort()).toEqual(['gateway', 'postgres', 'redis']);
    expect(composed.env.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\/\w+$/);
    expect(composed.env.REDIS_URL).toBe('redis://redis:6379');
    await expect(composeEnvironment({})).rejects.toThrow(/compose needs USAGE_PANDA_ADMIN_TOKEN/);
  });

  it('runs N gateways on one PostgreSQL and Redis: each ready, sharing connections', async () => {
    for (const gateway of gateways) {
      const ready = await fetch(`${gateway.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', state: { kind: 'redis', available: true } });
    }
    const auth = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const created = await fetch(`${gateways[0]?.url}/api/connections`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'deployed' }),
    });
    expect(created.status).toBe(201);
    const listed = await fetch(`${gateways[1]?.url}/api/connections`, { headers: auth });
    expect(((await listed.json()) as { data: { name: string }[] }).data.map((c) => c.name)).toEqual(['deployed']);
  });

  it('passes the image’s health check', async () => {
    const port = new URL(gateways[0]?.url ?? '').port;
    const [command, ...args] = dockerfile.health.map((arg) => arg.replace('127.0.0.1:9000', `127.0.0.1:${port}`));
    expect(command).toBe('node');
    await expect(promisify(execFile)(process.execPath, args)).resolves.toBeDefined();
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const last = gateways.pop();
    expect(await last?.stop()).toBe(0);
  });
});
