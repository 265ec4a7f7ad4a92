import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, readConfigFile } from './config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'usage-panda-prices-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function read(text: string) {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, text);
  return readConfigFile(file, {});
}

describe('prices section of the config file', () => {
  it('reads price overrides', async () => {
    const file = await read('prices:\n  - model: my-ft\n    inputPerMTok: 0.5\n    outputPerMTok: 1.5\n');
    expect(file.prices).toEqual([{ model: 'my-ft', inputPerMTok: 0.5, outputPerMTok: 1.5 }]);
  });

  it('refuses negative rates and unknown fields, naming the place', async () => {
    await expect(read('prices:\n  - model: m\n    inputPerMTok: -1\n')).rejects.toThrow(
      /\.yaml:3: prices\[0\]\.inputPerMTok: Too small/,
    );
    await expect(read('prices:\n  - model: m\n    perToken: 1\n')).rejects.toThrow(ConfigError);
  });
});
