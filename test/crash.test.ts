// kill -9 under load: the real CLI process, a stream of requests, SIGKILL with no warning.
// Records are written in batches, so what can be lost is what was waiting for the next
// batch: at most one batch window. This measures it and prints the figure.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type SqlStore } from '../src/store/sql-store.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli.ts')];
/** The log writer's batch size: one batch window never holds more. */
const BATCH_SIZE = 500;
const ANSWERED_BEFORE_KILL = 1_500;
const CONCURRENCY = 32;

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('USAGE_PANDA_') || name === 'OPENAI_API_KEY' || name === 'DATABASE_URL') delete env[name];
  }
  return env;
}

async function runCli(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [...CLI, ...args], { env: cleanEnv() });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  await new Promise((resolve) => child.on('close', resolve));
  return stdout;
}

let dataDir = '';
afterAll(() => rm(dataDir, { recursive: true, force: true }));

describe('kill -9 under load', { timeout: 180_000 }, () => {
  it('loses at most one batch window of the records of answered requests', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'usage-panda-kill-'));
    const created = await runCli(['keys', 'create', '--name', 'load', '--data', dataDir]);
    const key = /Key \(shown once\): (up-[A-Za-z0-9]{48})/.exec(created)?.[1] ?? '';
    const child = spawn(process.execPath, [...CLI, 'start', '--port', '0', '--data', dataDir, '--mock-upstream'], {
      env: cleanEnv(),
    });
    let output = '';
    const exited = new Promise((resolve) => child.on('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        output += d;
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match?.[1]) resolve(match[1]);
      });
      child.on('exit', () => reject(new Error(`gateway exited:\n${output}`)));
    });

    const answered: string[] = [];
    let killed = false;
    const worker = async () => {
      while (!killed) {
        try {
          const response = await fetch(`${url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-usagepanda-api-key': key, authorization: 'Bearer sk-x' },
            body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
          });
          await response.arrayBuffer();
          const id = response.headers.get('x-usagepanda-request-id');
          if (response.status === 200 && id && !killed) answered.push(id);
          if (answered.length >= ANSWERED_BEFORE_KILL && !killed) {
            killed = true;
            child.kill('SIGKILL');
          }
        } catch {
          return; // the gateway is gone
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await exited;

    const store = (await openStore({ dataDir })) as SqlStore;
    const stored = new Set((await store.db.selectFrom('logs').select('id').execute()).map((row) => row.id));
    await store.close();
    const lost = answered.filter((id) => !stored.has(id)).length;
    console.info(`kill -9 after ${answered.length} answered requests: ${lost} of their records lost`);
    expect(lost).toBeLessThanOrEqual(BATCH_SIZE);
  });
});
