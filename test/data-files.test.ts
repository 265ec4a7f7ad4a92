// The data dir and the SQLite files in it are the owner's alone: the database holds the
// request log, key hashes and sealed provider keys.
import { chmod, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_FILE } from '../src/store/sql-store.js';
import { type Stack, startStack } from './harness.js';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** The mode of the data dir and of every file in it, by name ('.' for the dir). */
async function modes(dataDir: string): Promise<Record<string, number>> {
  const found: Record<string, number> = { '.': await modeOf(dataDir) };
  for (const name of await readdir(dataDir)) found[name] = await modeOf(join(dataDir, name));
  return found;
}

/** Sends one request, so the WAL holds something and the SHM file exists. */
async function useStore(stack: Stack): Promise<void> {
  const { key } = await stack.createConnection();
  const { response } = await stack
    .client(key)
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  await stack.record(response.headers.get('x-usagepanda-request-id'));
}

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('data files', () => {
  it('creates the data dir 0700 and the database, its WAL and SHM files and the secret 0600', async () => {
    stack = await startStack();
    await useStore(stack);
    expect(await modes(stack.dataDir)).toEqual({
      '.': 0o700,
      [SQLITE_FILE]: 0o600,
      [`${SQLITE_FILE}-wal`]: 0o600,
      [`${SQLITE_FILE}-shm`]: 0o600,
      'secret.key': 0o600,
    });
  });

  it('makes an existing data dir and database files owner-only at start', async () => {
    const first = await startStack();
    await useStore(first);
    // As an older version, or a umask of 022, left them; the WAL and SHM stay while the process is gone.
    await first.stop();
    for (const name of await readdir(first.dataDir)) await chmod(join(first.dataDir, name), 0o644);
    await chmod(first.dataDir, 0o755);

    stack = await startStack({}, { restartOf: first });
    await useStore(stack);
    const found = await modes(stack.dataDir);
    expect(found['.']).toBe(0o700);
    for (const name of [SQLITE_FILE, `${SQLITE_FILE}-wal`, `${SQLITE_FILE}-shm`, 'secret.key']) {
      expect({ name, mode: found[name] }).toEqual({ name, mode: 0o600 });
    }
  });
});
