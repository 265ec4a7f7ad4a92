// `npm test` provides the browser tests' Chromium (test/chromium.ts, the pretest script): the one at
// CHROMIUM_PATH as it is, else installed (Debian's package, as root), else one line saying what to install.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChromiumMissing, provideChromium, runPretest } from './chromium.js';

const SCRIPT = join(import.meta.dirname, 'chromium.ts');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'usage-panda-chromium-test-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const executable = async (path: string) => {
  await writeFile(path, '#!/bin/sh\nexit 0\n');
  await chmod(path, 0o755);
};

/** Runs the pretest script with CHROMIUM_PATH set. */
function pretest(path: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { PATH: process.env.PATH ?? '', CHROMIUM_PATH: path },
    cwd: join(import.meta.dirname, '..'),
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('the browser tests’ Chromium', () => {
  it('uses the Chromium at CHROMIUM_PATH as it is, installing nothing', async () => {
    const path = join(dir, 'chromium-present');
    await executable(path);
    let installs = 0;
    await expect(provideChromium(path, async () => void installs++)).resolves.toBe(path);
    expect(installs).toBe(0);
    expect(await pretest(path)).toEqual({ code: 0, stderr: '' });
  });

  it('installs chromium when it is missing and installing is possible', async () => {
    const path = join(dir, 'chromium-installed');
    let installs = 0;
    const install = async () => {
      installs++;
      await executable(path);
    };
    await expect(provideChromium(path, install)).resolves.toBe(path);
    expect(installs).toBe(1);
  });

  it('stops with one line saying what to install when it cannot install', async () => {
    const path = join(dir, 'no-such-chromium');
    const line = `No Chromium at ${path} for the browser tests: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary.`;
    await expect(provideChromium(path, null)).rejects.toEqual(new ChromiumMissing(line));
    // No way to install (not root, no apt-get): the script prints that line alone and fails.
    const lines: string[] = [];
    expect(await runPretest(path, null, (said) => lines.push(said))).toBe(1);
    expect(lines).toEqual([line]);
  });

  it('says so in one line when installing fails or leaves no Chromium at the path', async () => {
    const path = join(dir, 'still-missing');
    await expect(
      provideChromium(path, async () => {
        throw new Error('E: Unable to locate package chromium\nmore');
      }),
    ).rejects.toThrow(
      `Installing chromium failed (E: Unable to locate package chromium): install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary.`,
    );
    await expect(provideChromium(path, async () => {})).rejects.toThrow(
      `chromium was installed but there is still no Chromium at ${path}: install Debian's chromium`,
    );
  });
});
