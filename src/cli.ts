#!/usr/bin/env node
// The command line: start the gateway, manage keys, run the mock upstream.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { logsCsv } from './admin/export.js';
import { LogQuerySchema, toLogFilter } from './admin/logs.js';
import { rangeOf, statsModels, statsSummary } from './admin/stats.js';
import { ConfigError, type GatewaySettings, loadConfig } from './config/config.js';
import { ConnectionDirectory, publicConnection } from './connections/directory.js';
import type { LogRecord } from './domain.js';
import { isEdgeConfig, startEdge } from './edge-gateway.js';
import { type Gateway, openConfiguredStore, startGateway } from './gateway.js';
import { startMockUpstream } from './mock-upstream/server.js';
import { isTimeZone } from './policy-settings.js';
import { createSecretBox, loadSecret } from './secrets/cipher.js';
import type { LogFilter, Store } from './store/store.js';

interface StoreFlags {
  data?: string;
  config?: string;
  databaseUrl?: string;
}

interface StartFlags extends StoreFlags {
  redisUrl?: string;
  port?: number;
  host?: string;
  upstream?: string;
  mockUpstream?: boolean;
  allowedHosts?: string;
  corsOrigins?: string;
  controlPlane?: string;
  edgeToken?: string;
}

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number');
  return n;
};

/** A comma-separated flag as the list the settings take. */
const listFlag = (value: string | undefined) => value?.split(',').filter((part) => part.trim() !== '');

function settingsFrom(flags: StartFlags): GatewaySettings & { configFile?: string } {
  return {
    configFile: flags.config,
    dataDir: flags.data,
    databaseUrl: flags.databaseUrl,
    redisUrl: flags.redisUrl,
    port: flags.port,
    host: flags.host,
    upstream: flags.upstream,
    mockUpstream: flags.mockUpstream,
    allowedHosts: listFlag(flags.allowedHosts),
    corsOrigins: listFlag(flags.corsOrigins),
    controlPlane: flags.controlPlane,
    edgeToken: flags.edgeToken,
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

/** Runs a command against the configured store directly, with no server. */
async function withStore<T>(flags: StoreFlags, run: (store: Store) => Promise<T>): Promise<T> {
  const config = await loadConfig(settingsFrom(flags), process.env);
  const store = await openConfiguredStore(config);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

interface LogFilterFlags {
  connection?: string;
  user?: string;
  model?: string;
  operation?: string;
  flag?: string;
  error?: string;
  traceId?: string;
  from?: string;
  to?: string;
}

/** The same filters as GET /api/logs, checked by the same schema. */
function logFilterFrom(flags: LogFilterFlags) {
  const picked = Object.fromEntries(
    (['connection', 'user', 'model', 'operation', 'flag', 'error', 'traceId', 'from', 'to'] as const)
      .filter((name) => flags[name] !== undefined)
      .map((name) => [name, flags[name]]),
  );
  const parsed = LogQuerySchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`--${String(issue?.path[0] ?? 'filter')}: ${issue?.message ?? 'invalid'}`);
  }
  return toLogFilter(parsed.data);
}

const logFilterOptions = (command: Command) =>
  command
    .option('--connection <id>', 'only this connection')
    .option('--user <user>', 'only this end user')
    .option('--model <model>', 'only this model')
    .option('--operation <operation>', 'only this operation (chat, embedding, …)')
    .option('--flag <type>', 'only records with a flag of this type')
    .option('--error <true|false>', 'only failed (true) or successful (false) requests')
    .option('--trace-id <id>', 'only this trace id')
    .option('--from <time>', 'from this time (epoch ms or ISO 8601 with offset), inclusive')
    .option('--to <time>', 'until this time, exclusive');

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
  .option('--allowed-hosts <names>', 'host names the gateway answers to besides loopback ones, comma-separated')
  .option('--cors-origins <origins>', 'origins whose web pages get CORS, comma-separated')
  .option('--redis-url <url>', 'redis:// URL: share limits, budgets and config changes across replicas')
  .option('--control-plane <url>', 'run as an edge of this central gateway (no database of its own)')
  .option('--edge-token <token>', "the edge's token, made in the central gateway's dashboard (upe-…)")
  .action(async (flags) => {
    const config = await loadConfig(settingsFrom(flags), process.env);
    let gateway: { app: Gateway['app']; close(): Promise<void> };
    if (isEdgeConfig(config)) {
      const edge = await startEdge(config);
      process.stdout.write(
        `Usage Panda edge is listening on ${edge.url}\n  proxy:         ${edge.url}/v1\n  control plane: ${config.controlPlane}\n`,
      );
      gateway = edge;
    } else {
      const central = await startGateway(config);
      printStartBanner(central, config.mockUpstream, config.file.standalone);
      gateway = central;
    }
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

function printStartBanner(gateway: Gateway, mock: boolean, standalone: boolean): void {
  const keyNote = standalone
    ? 'standalone: no key needed, the default policy applies'
    : 'send x-usagepanda-api-key: up-…';
  const lines = [
    `Usage Panda is listening on ${gateway.url}`,
    `  proxy:     ${gateway.url}/v1  (${keyNote})`,
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

logFilterOptions(storeOptions(program.command('export').description('write the request log as CSV (SPEC §4 columns)')))
  .requiredOption('--csv <file>', 'the CSV file to write; - for standard output')
  .action(async (flags) => {
    const filter = logFilterFrom(flags);
    await withStore(flags, async (store) => {
      const out = flags.csv === '-' ? process.stdout : createWriteStream(flags.csv);
      await pipeline(logsCsv(store, filter), out, { end: flags.csv !== '-' });
    });
  });

/** One readable line per request: time, status, operation, model, latency, tokens, cost, who, flags. */
function logLine(r: LogRecord): string {
  const cost = r.costUsd === null ? '$?' : `$${r.costUsd.toFixed(6)}`;
  const tokens = r.totalTokens === null ? '-' : `${r.totalTokens}${r.usageEstimated ? '~' : ''}`;
  const parts = [
    new Date(r.ts).toISOString(),
    String(r.status),
    r.operation.padEnd(10),
    (r.model ?? '-').padEnd(22),
    `${Math.round(r.latencyMs)}ms`.padStart(7),
    `${tokens} tok`.padStart(10),
    cost.padStart(11),
    r.connectionName ?? r.connectionId ?? '-',
    `user=${r.endUser ?? '-'}`,
  ];
  if (r.flags.length) parts.push(`flags=${r.flags.map((f) => f.type).join(',')}`);
  if (r.error) parts.push(`error=${JSON.stringify(r.error)}`);
  return parts.join('  ');
}

const FOLLOW_POLL_MS = 1000;

/** Records newer than `afterId`, oldest first. */
async function newerRecords(store: Store, filter: LogFilter, afterId: string): Promise<LogRecord[]> {
  const found: LogRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryLogs(filter, { limit: 500, cursor, since: afterId });
    found.push(...page.records);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return found.reverse();
}

logFilterOptions(
  storeOptions(program.command('logs').description('print the request log, one line per request (reads the store)')),
)
  .option('--limit <n>', 'how many recent requests to print first (default 20)', (v) => positiveInt(v), 20)
  .option('--follow', 'keep printing new requests as they are recorded')
  .action(async (flags) => {
    const filter = logFilterFrom(flags);
    await withStore(flags, async (store) => {
      const page = await store.queryLogs(filter, { limit: flags.limit });
      const recent = page.records.reverse();
      for (const record of recent) process.stdout.write(`${logLine(record)}\n`);
      if (!flags.follow) return;
      let lastId = recent.at(-1)?.id ?? '';
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      while (!stop.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
        for (const record of await newerRecords(store, filter, lastId)) {
          process.stdout.write(`${logLine(record)}\n`);
          lastId = record.id;
        }
      }
    });
  });

const percent = (value: number | null) => (value === null ? '-' : `${(value * 100).toFixed(1)}%`);
const signed = (value: number | null) =>
  value === null ? '-' : `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;

storeOptions(program.command('stats').description('print the usage summary and the models (reads the store)'))
  .option('--connection <id>', 'only this connection')
  .option('--from <time>', 'from this time (epoch ms or ISO 8601); default 24 hours before --to')
  .option('--to <time>', 'until this time, exclusive; default now')
  .option('--tz <zone>', 'IANA time zone for the buckets', 'UTC')
  .option('--json', 'print the summary as JSON')
  .action(async (flags) => {
    const parsed = LogQuerySchema.pick({ from: true, to: true }).safeParse({ from: flags.from, to: flags.to });
    if (!parsed.success) throw new ConfigError(`--${String(parsed.error.issues[0]?.path[0])}: invalid time`);
    if (!isTimeZone(flags.tz)) throw new ConfigError(`--tz: unknown time zone ${flags.tz}`);
    const range = rangeOf({ connection: flags.connection, ...parsed.data, tz: flags.tz });
    await withStore(flags, async (store) => {
      const [summary, models] = await Promise.all([statsSummary(store, range), statsModels(store, range)]);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...summary, models }, null, 2)}\n`);
        return;
      }
      const { current: c, previous: p, change } = summary;
      const rows = [
        ['', 'current', 'previous', 'change'],
        ['requests', String(c.requests), String(p.requests), signed(change.requests)],
        ['cost (USD)', c.costUsd.toFixed(6), p.costUsd.toFixed(6), signed(change.costUsd)],
        ['tokens', String(c.tokens), String(p.tokens), signed(change.tokens)],
        ['success rate', percent(c.successRate), percent(p.successRate), signed(change.successRate)],
      ];
      const lines = [`Usage from ${summary.from} to ${summary.to}`, '', ...table(rows)];
      if (models.length) {
        lines.push(
          '',
          ...table([
            ['model', 'requests', 'tokens', 'cost (USD)'],
            ...models.map((m) => [
              m.model ?? '(none)',
              String(m.requests),
              String(m.totalTokens),
              m.costUsd.toFixed(6),
            ]),
          ]),
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  });

/** Left-aligned first column, right-aligned numbers. */
function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  '),
  );
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new InvalidArgumentError('expected a whole number from 1 to 500');
  return n;
}

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
