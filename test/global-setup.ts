// Builds the dashboard once before the tests when dist/web is missing or older than web/,
// so browser tests always drive the current UI.
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const time = entry.isDirectory() ? await newestMtime(path) : (await stat(path)).mtimeMs;
    newest = Math.max(newest, time);
  }
  return newest;
}

export default async function buildDashboardIfStale(): Promise<void> {
  const built = await stat(join(ROOT, 'dist/web/index.html')).catch(() => null);
  const sources = Math.max(await newestMtime(join(ROOT, 'web')), (await stat(join(ROOT, 'package.json'))).mtimeMs);
  if (built && built.mtimeMs >= sources) return;
  await promisify(execFile)(join(ROOT, 'node_modules/.bin/vite'), ['build', '--config', 'web/vite.config.ts'], {
    cwd: ROOT,
  });
}
