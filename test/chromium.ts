// Makes sure the browser tests have a Chromium before `npm test` runs them (the `pretest` script):
// the one at CHROMIUM_PATH (default Debian's /usr/bin/chromium), else Debian's package installed with
// apt-get when running as root, else one line saying what to install.
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/** The Chromium binary the browser tests drive. */
export const chromiumPath = (env: NodeJS.ProcessEnv = process.env) => env.CHROMIUM_PATH || DEBIAN_CHROMIUM;

const isExecutable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/** Thrown with the one line to print when no Chromium can be had. */
export class ChromiumMissing extends Error {
  override name = 'ChromiumMissing';
}

/** Installs Debian's chromium with apt-get; null where that is not possible (not root, no apt-get). */
export async function aptInstaller(): Promise<(() => Promise<void>) | null> {
  if (process.getuid?.() !== 0 || !(await isExecutable('/usr/bin/apt-get'))) return null;
  return async () => {
    process.stderr.write(`No Chromium for the browser tests: installing Debian's chromium with apt-get…\n`);
    const run = promisify(execFile);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
  };
}

/**
 * The path of a runnable Chromium: `path` as it is, or after `install` (when given) put it there.
 * Throws ChromiumMissing with one line saying what to do otherwise.
 */
export async function provideChromium(path: string, install: (() => Promise<void>) | null): Promise<string> {
  if (await isExecutable(path)) return path;
  const advice = `install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary`;
  if (!install) throw new ChromiumMissing(`No Chromium at ${path} for the browser tests: ${advice}.`);
  try {
    await install();
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new ChromiumMissing(`Installing chromium failed (${reason}): ${advice}.`);
  }
  if (await isExecutable(path)) return path;
  throw new ChromiumMissing(`chromium was installed but there is still no Chromium at ${path}: ${advice}.`);
}

/** The pretest script: 0 with a Chromium at `path`, else 1 after one line saying what to do. */
export async function runPretest(
  path: string,
  install: (() => Promise<void>) | null,
  report: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  try {
    await provideChromium(path, install);
    return 0;
  } catch (err) {
    if (!(err instanceof ChromiumMissing)) throw err;
    report(err.message);
    return 1;
  }
}

// Run as a script (`npm test`'s pretest).
if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runPretest(chromiumPath(), await aptInstaller());
}
