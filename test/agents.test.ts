// `npm test` provides the coding agents (test/agents.ts): pinned, in a cache folder outside the package,
// installed only when missing — and never among the package's own dependencies.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENTS, AgentMissing, agentBinary, agentsDir, provideAgent, runPretest } from './agents.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'usage-panda-agents-test-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A stand-in binary at the agent's place that prints `version`. */
async function fakeAgent(env: NodeJS.ProcessEnv, version: string) {
  const path = agentBinary('codex', env);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `#!/bin/sh\necho "codex-cli ${version}"\n`);
  await chmod(path, 0o755);
  return path;
}

describe('the agent tests’ agents', () => {
  it('keeps them out of the package’s dependencies, so a user’s npm install stays lean', async () => {
    const manifest = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8'));
    const declared = Object.keys({
      ...manifest.dependencies,
      ...manifest.devDependencies,
      ...manifest.optionalDependencies,
    });
    expect(declared).not.toContain('@anthropic-ai/claude-code');
    expect(declared).not.toContain('@openai/codex');
    expect(manifest.scripts.pretest).toContain('test/agents.ts');
  });

  it('installs into USAGE_PANDA_AGENTS_DIR, else XDG_CACHE_HOME, else ~/.cache, one folder per pinned version', () => {
    expect(agentsDir({ USAGE_PANDA_AGENTS_DIR: '/x/agents', XDG_CACHE_HOME: '/y' })).toBe('/x/agents');
    expect(agentsDir({ XDG_CACHE_HOME: '/y' })).toBe('/y/usage-panda/agents');
    expect(agentsDir({})).toBe(join(homedir(), '.cache', 'usage-panda', 'agents'));
    expect(agentBinary('claude-code', { USAGE_PANDA_AGENTS_DIR: '/x' })).toBe(
      `/x/claude-code@${AGENTS['claude-code'].version}/node_modules/.bin/claude`,
    );
    expect(agentBinary('codex', { USAGE_PANDA_AGENTS_DIR: '/x' })).toBe(
      `/x/codex@${AGENTS.codex.version}/node_modules/.bin/codex`,
    );
  });

  it('uses an agent already installed as it is, installing nothing', async () => {
    const env = { PATH: process.env.PATH, USAGE_PANDA_AGENTS_DIR: join(dir, 'present') };
    const path = await fakeAgent(env, AGENTS.codex.version);
    await expect(provideAgent('codex', env)).resolves.toBe(path);
  });

  it('refuses a binary that is not the pinned version, saying which it is', async () => {
    const env = { PATH: process.env.PATH, USAGE_PANDA_AGENTS_DIR: join(dir, 'other-version') };
    const path = await fakeAgent(env, '0.0.1');
    const failure = provideAgent('codex', env);
    await expect(failure).rejects.toBeInstanceOf(AgentMissing);
    await expect(failure).rejects.toThrow(`${path} --version printed "codex-cli 0.0.1", not ${AGENTS.codex.version}`);
  });

  it('stops the pretest with one line when npm cannot install an agent', async () => {
    // No npm on PATH: the install fails as it would without a registry.
    const env = { PATH: join(dir, 'no-such-bin'), USAGE_PANDA_AGENTS_DIR: join(dir, 'missing') };
    const lines: string[] = [];
    expect(await runPretest(env, (line) => lines.push(line))).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^Installing @anthropic-ai/claude-code@${AGENTS['claude-code'].version} failed \\(.+\\): the agent tests need it\\.$`,
      ),
    );
  });
});
