// `usage-panda logs`, `logs --follow` and `usage-panda stats` as a user runs them, reading
// the store of a running gateway from its data dir.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../src/domain.js';
import { newRequestId } from '../src/exchange.js';
import { logRecord } from './fixtures.js';
import { type Stack, startStack } from './harness.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli.ts')];
const NOW = Date.now();

/** Records with time-ordered ids, as the gateway makes them (pages are ordered by id). */
const record = (overrides: Partial<LogRecord> & { ts: number }) =>
  logRecord({ id: newRequestId(overrides.ts), ...overrides });

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  await stack.gateway.store.insertLogs([
    record({
      ts: NOW - 3000,
      endUser: 'alice',
      model: 'gpt-4o',
      costUsd: 0.5,
      totalTokens: 100,
      connectionName: 'prod',
    }),
    record({
      ts: NOW - 2000,
      endUser: 'bob',
      status: 422,
      error: 'blocked',
      flags: [{ type: 'policy_enforce_user_ids', description: 'x' }],
      costUsd: 0,
    }),
    record({ ts: NOW - 1000, endUser: 'alice', model: 'gpt-4o-mini', costUsd: null, usageEstimated: true }),
  ]);
});
afterAll(() => stack?.close());

function launch(args: string[]): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [...CLI, ...args, '--data', stack.dataDir], {
    env: { PATH: process.env.PATH ?? '' },
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, output: () => output, done };
}

/** Resolves once the output contains `text` (or rejects when the process ends without it). */
function waitFor(run: ReturnType<typeof launch>, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (run.output().includes(text)) {
        run.child.stdout?.off('data', check);
        resolve();
      }
    };
    run.child.stdout?.on('data', check);
    run.done.then(() =>
      run.output().includes(text) ? resolve() : reject(new Error(`ended without "${text}":\n${run.output()}`)),
    );
    check();
  });
}

describe('usage-panda logs and stats', { timeout: 120_000 }, () => {
  it('prints one readable line per request, oldest first, filtered by user', async () => {
    const run = launch(['logs', '--user', 'alice']);
    expect(await run.done).toBe(0);
    const lines = run.output().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\S+Z {2}200 {2}chat\s+gpt-4o\s+13ms\s+100 tok\s+\$0\.500000 {2}prod {2}user=alice$/);
    expect(lines[1]).toMatch(/gpt-4o-mini\s+13ms\s+8~ tok\s+\$\?\s+a {2}user=alice$/);
  });

  it('follows new requests as they are recorded', async () => {
    const run = launch(['logs', '--follow', '--limit', '1']);
    await waitFor(run, 'gpt-4o-mini');
    expect(run.output()).not.toContain('user=bob');
    await stack.gateway.store.insertLogs([record({ ts: Date.now(), endUser: 'carol', model: 'o1-mini' })]);
    await waitFor(run, 'user=carol');
    run.child.kill('SIGTERM');
    await run.done;
    expect(run.output().trim().split('\n')).toHaveLength(2);
  });

  it('prints the summary table with the change against the previous period', async () => {
    // alice, bob and alice from the start, carol from the follow test.
    const run = launch(['stats']);
    expect(await run.done).toBe(0);
    const out = run.output();
    expect(out).toMatch(/requests\s+4\s+0\s+-/);
    expect(out).toMatch(/cost \(USD\)\s+0\.500123\s+0\.000000\s+-/);
    expect(out).toMatch(/success rate\s+75\.0%\s+-\s+-/);
    expect(out).toMatch(/gpt-4o-mini\s+2\s+16\s+0\.000000\n/);
  });

  it('refuses an unknown time zone', async () => {
    const run = launch(['stats', '--tz', 'Mars/Olympus']);
    expect(await run.done).toBe(2);
    expect(run.output()).toContain('--tz: unknown time zone Mars/Olympus');
  });
});
