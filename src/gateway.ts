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
import { StreamOptionsRefusals } from './proxy/stream.js';
import { createSecretBox, loadSecret } from './secrets/cipher.js';
import { buildServer } from './server.js';
import { SpendControl } from './spend/control.js';
import { openState } from './state/index.js';
import type { SharedState } from './state/state.js';
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
  /** Limits and budgets, and the shared state (memory or Redis) they count in. */
  spend: SpendControl;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** The clock of limit and budget windows; tests move it. */
  now?: () => number;
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

/** Change events between replicas: what changed on one is forgotten by every other's cache. */
const TOPICS = { connections: 'connections', autoReplies: 'autoreplies' } as const;

function shareChanges(state: SharedState, connections: ConnectionDirectory, autoReplies: AutoReplyDirectory): void {
  connections.onChange = () => void state.publish(TOPICS.connections);
  autoReplies.onChange = () => void state.publish(TOPICS.autoReplies);
  state.subscribe((topic) => {
    if (topic === TOPICS.connections) connections.forget();
    if (topic === TOPICS.autoReplies) autoReplies.forget();
  });
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
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
  // Set once the app (whose logger reports Redis errors) exists.
  let reportStateError: (err: unknown) => void = () => {};
  const state = await openState({ redisUrl: config.redisUrl, onError: (err) => reportStateError(err) });
  shareChanges(state, connections, autoReplies);
  const prices = createPriceBook(config.file.prices);
  const spend = new SpendControl({
    state,
    prices,
    now: options.now,
    leaseMs: config.reservationLeaseMs,
    events: {
      unavailable: (allowed) => metrics.stateUnavailable(allowed),
      overrun: (kind) => metrics.spendOverrun(kind),
      error: (err) => reportStateError(err),
    },
  });
  const app = await buildServer({
    logLevel: config.logLevel,
    isReady: () => ready,
    stateStore: () => ({ kind: state.kind, available: state.available }),
    metrics,
    admin: { store, connections, autoReplies, spend, adminToken, sessions: createSessions(adminToken, secret) },
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
      prices,
      streamOptionsRefusals: new StreamOptionsRefusals(),
      spend,
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

  let lastStateError = 0;
  reportStateError = (err) => {
    // Redis away means an error per command and per reconnect: one line every 10 s is enough.
    if (Date.now() - lastStateError < 10_000) return;
    lastStateError = Date.now();
    app.log.warn({ err }, 'shared state (Redis) error');
  };

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
    spend,
    async close() {
      ready = false;
      await stopRetention();
      const cut = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
      await app.close();
      clearTimeout(cut);
      await writer.close();
      await agent.close();
      spend.close();
      await state.close();
      await mockUpstream?.close();
      await store.close();
    },
  };
}
