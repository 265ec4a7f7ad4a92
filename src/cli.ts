#!/usr/bin/env node
// The command line: start the gateway, manage keys, run the mock upstream.
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, type GatewaySettings, loadConfig } from './config/config.js';
import { ConnectionDirectory, publicConnection } from './connections/directory.js';
import { type Gateway, openConfiguredStore, startGateway } from './gateway.js';
import { startMockUpstream } from './mock-upstream/server.js';
import { createSecretBox, loadSecret } from './secrets/cipher.js';

interface StoreFlags {
  data?: string;
  config?: string;
  databaseUrl?: string;
}

interface StartFlags extends StoreFlags {
  port?: number;
  host?: string;
  upstream?: string;
  mockUpstream?: boolean;
}

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number');
  return n;
};

function settingsFrom(flags: StartFlags): GatewaySettings & { configFile?: string } {
  return {
    configFile: flags.config,
    dataDir: flags.data,
    databaseUrl: flags.databaseUrl,
    port: flags.port,
    host: flags.host,
    upstream: flags.upstream,
    mockUpstream: flags.mockUpstream,
  };
}

/** Runs a keys command against the configured store, with no server. */
async function withDirectory<T>(flags: StoreFlags, run: (directory: ConnectionDirectory) => Promise<T>): Promise<T> {
  const config = await loadConfig(settingsFrom(flags), process.env);
  const store = await openConfiguredStore(config);
  try {
    const secret = await loadSecret(config.secret, config.dataDir);
    return await run(new ConnectionDirectory(store, createSecretBox(secret)));
  } finally {
    await store.close();
  }
}

const storeOptions = (command: Command) =>
  command
    .option('--data <dir>', 'data directory for the SQLite store and the secret', undefined)
    .option('--config <file>', 'YAML config file')
    .option('--database-url <url>', 'postgres:// URL (default: SQLite under the data dir)');

const program = new Command('usage-panda').description('Self-hostable gateway for LLM APIs').showHelpAfterError();

storeOptions(program.command('start').description('start the gateway'))
  .option('--port <n>', 'port to listen on (default 9000)', port)
  .option('--host <host>', 'address to bind (default 127.0.0.1)')
  .option('--upstream <url>', 'default upstream base URL (default https://api.openai.com/v1)')
  .option('--mock-upstream', 'serve the OpenAI-compatible simulator in-process as the upstream')
  .action(async (flags) => {
    const config = await loadConfig(settingsFrom(flags), process.env);
    const gateway = await startGateway(config);
    printStartBanner(gateway, config.mockUpstream);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      gateway.app.log.info({ signal }, 'shutting down: draining requests and the log queue');
      await gateway.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  });

function printStartBanner(gateway: Gateway, mock: boolean): void {
  const lines = [
    `Usage Panda is listening on ${gateway.url}`,
    `  proxy:     ${gateway.url}/v1  (send x-usagepanda-api-key: up-…)`,
    `  dashboard: ${gateway.url}/`,
  ];
  if (mock) lines.push(`  upstream:  in-process mock at ${gateway.mockUpstream?.url}`);
  if (gateway.adminToken.generated) {
    lines.push('', `Admin token (shown once, keep it safe): ${gateway.adminToken.generated}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const keys = program.command('keys').description('manage connections (Usage Panda API keys)');

storeOptions(keys.command('create').description('create a connection; its key is printed once'))
  .requiredOption('--name <name>', 'connection name')
  .option('--enforce-user-ids', 'block requests without a user field')
  .addOption(new Option('--no-header-overrides', 'refuse headers that loosen the policy'))
  .option('--upstream <url>', 'upstream base URL for this connection')
  .option('--provider-key <key>', 'provider key stored (encrypted) for this connection')
  .action(async (flags) => {
    const { connection, key } = await withDirectory(flags, (directory) =>
      directory.create({
        name: flags.name,
        upstream: flags.upstream ?? null,
        providerKey: flags.providerKey ?? null,
        policy: {
          enforceUserIds: flags.enforceUserIds === true,
          allowHeaderOverrides: flags.headerOverrides !== false,
        },
      }),
    );
    process.stdout.write(`Created ${connection.name} (${connection.id})\nKey (shown once): ${key}\n`);
  });

storeOptions(keys.command('list').description('list connections'))
  .option('--json', 'print JSON')
  .action(async (flags) => {
    const list = await withDirectory(flags, (directory) => directory.list());
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(list.map(publicConnection), null, 2)}\n`);
      return;
    }
    for (const c of list) {
      const state = c.enabled ? 'enabled ' : 'disabled';
      process.stdout.write(`${c.id}  ${c.keyPrefix}…  ${state}  ${c.name}\n`);
    }
  });

storeOptions(keys.command('revoke').description('delete a connection: its key stops working').argument('<id>')).action(
  async (id: string, flags) => {
    const removed = await withDirectory(flags, (directory) => directory.remove(id));
    if (!removed) throw new ConfigError(`no connection with id ${id}`);
    process.stdout.write(`Revoked ${id}\n`);
  },
);

program
  .command('mock-upstream')
  .description('run the OpenAI-compatible simulator on its own')
  .option('--port <n>', 'port (default 9100)', port, 9100)
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .action(async (flags) => {
    const mock = await startMockUpstream({ port: flags.port, host: flags.host });
    process.stdout.write(`Mock upstream listening on ${mock.url}\n`);
    const stop = () => void mock.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`usage-panda: ${message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
