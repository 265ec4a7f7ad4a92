// Gives the agent tests their coding agents (the `pretest` script, and each agent test's beforeAll):
// Claude Code and Codex, pinned, installed once with npm into a cache folder outside the package, so a
// user's `npm install` never fetches their ~400 MB native binaries (both ship inside registry packages).
import { execFile } from 'node:child_process';
import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The agents, pinned: a new version is a deliberate change, tested like any other. */
export const AGENTS = {
  'claude-code': { pkg: '@anthropic-ai/claude-code', version: '2.1.337', bin: 'claude' },
  codex: { pkg: '@openai/codex', version: '0.171.0', bin: 'codex' },
} as const;

export type AgentName = keyof typeof AGENTS;

/** `$USAGE_PANDA_AGENTS_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/usage-panda/agents`. */
export function agentsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.USAGE_PANDA_AGENTS_DIR) return env.USAGE_PANDA_AGENTS_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'usage-panda', 'agents');
}

/** The folder one pinned agent is installed in: `<agentsDir>/<name>@<version>`. */
export const agentDir = (name: AgentName, env: NodeJS.ProcessEnv = process.env) =>
  join(agentsDir(env), `${name}@${AGENTS[name].version}`);

/** The agent's command line program inside its folder. */
export const agentBinary = (name: AgentName, env: NodeJS.ProcessEnv = process.env) =>
  join(agentDir(name, env), 'node_modules', '.bin', AGENTS[name].bin);

const isExecutable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/** Thrown with the one line to print when an agent cannot be installed or does not run. */
export class AgentMissing extends Error {
  override name = 'AgentMissing';
}

/**
 * The path of the agent's binary, installing the pinned version first when its folder is missing.
 * The install goes to a folder of its own and is renamed into place, so two test files asking at
 * once never see half an install.
 */
export async function provideAgent(name: AgentName, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const binary = agentBinary(name, env);
  if (!(await isExecutable(binary))) await install(name, env);
  const { stdout } = await run(binary, ['--version'], { env, timeout: 60_000 }).catch((err: unknown) => {
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new AgentMissing(`${binary} does not run (${reason}): remove ${agentDir(name, env)} to reinstall it.`);
  });
  if (!stdout.includes(AGENTS[name].version)) {
    throw new AgentMissing(`${binary} --version printed ${JSON.stringify(stdout.trim())}, not ${AGENTS[name].version}`);
  }
  return binary;
}

async function install(name: AgentName, env: NodeJS.ProcessEnv): Promise<void> {
  const { pkg, version } = AGENTS[name];
  const target = agentDir(name, env);
  const partial = `${target}.partial-${process.pid}`;
  process.stderr.write(`Installing ${pkg}@${version} for the agent tests into ${target}…\n`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    // Its own prefix, no lockfile: nothing of the package's own tree is read or written.
    await run(
      'npm',
      [
        'install',
        '--prefix',
        partial,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        `${pkg}@${version}`,
      ],
      { cwd: partial, env, maxBuffer: 64 * 1024 * 1024 },
    );
    if (!(await isExecutable(join(partial, 'node_modules', '.bin', AGENTS[name].bin)))) {
      throw new Error(`the package installed no ${AGENTS[name].bin} binary`);
    }
    // Another process may have finished first: its install is as good as this one.
    if (!(await isExecutable(agentBinary(name, env)))) {
      await rm(target, { recursive: true, force: true });
      await rename(partial, target);
    }
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new AgentMissing(`Installing ${pkg}@${version} failed (${reason}): the agent tests need it.`);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/** The pretest script: 0 with every agent installed and running, else 1 after one line saying why. */
export async function runPretest(
  env: NodeJS.ProcessEnv = process.env,
  report: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  try {
    for (const name of Object.keys(AGENTS) as AgentName[]) await provideAgent(name, env);
    return 0;
  } catch (err) {
    if (!(err instanceof AgentMissing)) throw err;
    report(err.message);
    return 1;
  }
}

// Run as a script (`npm test`'s pretest).
if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runPretest();
}
