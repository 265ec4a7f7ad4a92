// Assembles a running gateway from a Config: store, secrets, connections, log writer,
// upstream agent and server; and takes it down again in order, draining what is in flight.
import { mkdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { createPriceBook } from './accounting/prices.js';
import { createSessions } from './admin/session.js';
import { ensureAdminToken, type StoredAdminToken } from './admin/token.js';
import { AutoReplyDirectory } from './autoreplies/directory.js';
import { applyConfigFile } from './config/apply.js';
import type { Config } from './config/config.js';
import { ConnectionDirectory } from './connections/directory.js';
import { createMetrics } from './metrics.js';
import { type MockUpstream, startMockUpstream } from './mock-upstream/server.js';
import { PolicySettingsSchema } from './policy-settings.js';
import { createUpstreamAgent } from './proxy/forward.js';
import { Cooldowns } from './proxy/routing.js';
import { StreamOptionsRefusals } from './proxy/stream.js';
import { createSecretBox, loadSecret } from './secrets/cipher.js';
import { buildServer } from './server.js';
import { createLogWriter, type LogWriter } from './store/log-writer.js';
import { RetentionSchema, startRetention } from './store/retention.js';
import { openStore } from './store/sql-store.js';
import type { Store } from './store/store.js';

export interface Gateway {
  /** Base URL of the gateway, e.g. http://127.0.0.1:9000 */
  url: string;
  app: FastifyInstance;
  store: Store;
  connections: ConnectionDirectory;
  logWriter: LogWriter;
  adminToken: StoredAdminToken;
  mockUpstream: MockUpstream | null;
  close(): Promise<void>;
}

/** How long shutdown waits for in-flight requests (long streams) before cutting them. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Opens the store the config names, under the data dir unless it is PostgreSQL. */
export async function openConfiguredStore(config: Config): Promise<Store> {
  await mkdir(config.dataDir, { recursive: true });
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await store.migrate();
  return store;
}

export async function startGateway(config: Config): Promise<Gateway> {
  const store = await openConfiguredStore(config);
  const secret = await loadSecret(config.secret, config.dataDir);
  const box = createSecretBox(secret);
  // Without a file there is nothing to reconcile: file-managed connections stay as they were.
  const applied = config.configFile ? await applyConfigFile(config.file, store, box) : null;
  const connections = new ConnectionDirectory(store, box);
  const autoReplies = new AutoReplyDirectory(store);
  const adminToken = await ensureAdminToken(store, config.adminToken);
  const mockUpstream = config.mockUpstream ? await startMockUpstream({ port: 0 }) : null;
  const agent = createUpstreamAgent(config);

  let ready = false;
  let logWriter: LogWriter | undefined;
  const metrics = createMetrics(() => logWriter);
  const app = await buildServer({
    logLevel: config.logLevel,
    isReady: () => ready,
    metrics,
    admin: { store, connections, autoReplies, adminToken, sessions: createSessions(adminToken, secret) },
    proxy: {
      connections,
      autoReplies,
      agent,
      upstream: mockUpstream?.url ?? config.upstream,
      // The simulator takes any key, so trying the product needs none.
      fallbackProviderKey: config.openaiApiKey ?? (mockUpstream ? 'sk-mock-upstream' : null),
      defaultApiKey: config.defaultApiKey ?? null,
      standalonePolicy: config.file.standalone ? PolicySettingsSchema.parse(config.file.defaults) : null,
      maxBodyBytes: config.maxBodyBytes,
      prices: createPriceBook(config.file.prices),
      streamOptionsRefusals: new StreamOptionsRefusals(),
      cooldowns: new Cooldowns({
        failures: config.targetFailuresBeforeCooldown,
        seconds: config.targetCooldownSeconds,
      }),
      mockOrigin: mockUpstream ? new URL(mockUpstream.url).origin : null,
      record(record) {
        metrics.observe(record);
        logWriter?.enqueue(record);
      },
    },
  });
  logWriter = createLogWriter(store, {
    onDrop: () => app.log.warn('log queue full: a log record was dropped (counted in /metrics)'),
    onError: (err, batch) => app.log.error({ err, records: batch.length }, 'writing log records failed'),
  });

  const stopRetention = startRetention(store, config.file.retention ?? RetentionSchema.parse({}), app.log);

  if (applied) app.log.info({ file: config.configFile, ...applied }, 'config file applied');
  await app.listen({ port: config.port, host: config.host });
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  const writer = logWriter;
  return {
    url: `http://${host}:${port}`,
    app,
    store,
    connections,
    logWriter: writer,
    adminToken,
    mockUpstream,
    async close() {
      ready = false;
      await stopRetention();
      const cut = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
      await app.close();
      clearTimeout(cut);
      await writer.close();
      await agent.close();
      await mockUpstream?.close();
      await store.close();
    },
  };
}
