// Assembles a running gateway from a Config: store, secrets, connections, log writer,
// upstream agent and server; and takes it down again in order, draining what is in flight.
import { chmod, mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Agent } from 'undici';
import { createPriceBook } from './accounting/prices.js';
import { AdminAuthLimit } from './admin/auth-limit.js';
import { createSessions } from './admin/session.js';
import { ensureAdminToken, type StoredAdminToken } from './admin/token.js';
import { AutoReplyDirectory } from './autoreplies/directory.js';
import { browserAccess } from './browser-access.js';
import { applyConfigFile } from './config/apply.js';
import type { Config } from './config/config.js';
import { ConnectionDirectory } from './connections/directory.js';
import type { LogRecord } from './domain.js';
import { createMetrics } from './metrics.js';
import { type MockUpstream, startMockUpstream } from './mock-upstream/server.js';
import { PolicySettingsSchema } from './policy-settings.js';
import { createUpstreamAgent } from './proxy/forward.js';
import { Cooldowns } from './proxy/routing.js';
import { StreamOptionsRefusals } from './proxy/stream.js';
import { createSecretBox, loadSecret } from './secrets/cipher.js';
import { buildServer } from './server.js';
import { SpendControl } from './spend/control.js';
import { openState } from './state/index.js';
import type { SharedState } from './state/state.js';
import type { LogWriter } from './store/log-writer.js';
import { createRefusalCounter } from './store/refusal-counter.js';
import { RetentionSchema, startRetention } from './store/retention.js';
import { openStore } from './store/sql-store.js';
import type { Store } from './store/store.js';
import { startWorkerLogWriter } from './store/worker-log-writer.js';

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

/** Opens the store the config names, under the data dir unless it is PostgreSQL. */
export async function openConfiguredStore(config: Config): Promise<Store> {
  // The owner's alone, an existing dir too: it holds the database and the secret.
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await chmod(config.dataDir, 0o700);
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

  const refusals = createRefusalCounter(store, {
    onError: (err) => app.log.error({ err }, 'writing refusal counts failed'),
  });
  const authLimit = new AdminAuthLimit({
    maxFailures: config.adminAuthMaxFailures,
    windowMs: config.adminAuthWindowMs,
  });
  let ready = false;
  let cutting = false;
  let logWriter: LogWriter | undefined;
  let clientConnections = 0;
  const metrics = createMetrics({
    logWriter: () => logWriter,
    clientConnections: () => clientConnections,
    upstreamSockets: () => upstreamSockets(agent),
  });
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
    trustProxy: config.trustProxy,
    isReady: () => ready,
    stateStore: () => ({ kind: state.kind, available: state.available }),
    metrics,
    access: browserAccess({
      listenHost: config.host,
      keyless: config.file.standalone || config.defaultApiKey !== undefined,
      allowedHosts: config.allowedHosts,
      corsOrigins: config.corsOrigins,
    }),
    admin: {
      store,
      connections,
      autoReplies,
      spend,
      adminToken,
      sessions: createSessions(adminToken, secret, store),
      authLimit,
      onRefused(ip, status) {
        metrics.refused('admin', status);
        refusals.add('admin', status, ip);
      },
      flushRefusals: () => refusals.flush(),
    },
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
      maxJsonAnswerBytes: config.maxJsonAnswerBytes,
      upstreamTotalTimeoutMs: config.upstreamTotalTimeoutMs,
      clientBodyTimeoutMs: config.clientBodyTimeoutMs,
      prices,
      spend,
      streamOptionsRefusals: new StreamOptionsRefusals(),
      cutByShutdown: () => cutting,
      cooldowns: new Cooldowns({
        failures: config.targetFailuresBeforeCooldown,
        seconds: config.targetCooldownSeconds,
      }),
      mockOrigin: mockUpstream ? new URL(mockUpstream.url).origin : null,
      record(record) {
        metrics.observe(record);
        if (isRefusal(record)) {
          // Counted per IP and minute, not logged: a loop of wrong keys must not fill the log.
          metrics.refused('proxy', record.status);
          refusals.add('proxy', record.status, record.ip);
        } else {
          logWriter?.enqueue(record);
        }
      },
    },
  });
  // Records are written in a worker thread with its own connection to the same database.
  logWriter = await startWorkerLogWriter({
    store: { databaseUrl: config.databaseUrl, dataDir: config.dataDir },
    onDrop: () => app.log.warn('log queue full: a log record was dropped (counted in /metrics)'),
    onError: (err, records) => app.log.error({ err, records }, 'writing log records failed'),
  });

  // Requests whose response has not closed yet: shutdown waits for each one's record.
  const inFlight = new Set<Promise<void>>();
  app.server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    const closed = new Promise<void>((resolve) => res.once('close', resolve));
    inFlight.add(closed);
    void closed.then(() => inFlight.delete(closed));
  });
  app.server.on('connection', (socket: Socket) => {
    clientConnections++;
    socket.once('close', () => clientConnections--);
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
      // New connections are refused at once; requests in flight get the grace period to
      // finish, then their connections are cut and their records say so.
      const cut = setTimeout(() => {
        cutting = true;
        app.server.closeAllConnections();
      }, config.shutdownGraceMs);
      await app.close();
      clearTimeout(cut);
      // A response's 'close' (where the proxy records it) can come after the server's.
      await Promise.all(inFlight);
      await writer.close();
      await refusals.close();
      await agent.close();
      spend.close();
      await state.close();
      await mockUpstream?.close();
      await store.close();
    },
  };
}

/** Refused for its key before any connection was known: a wrong or missing Usage Panda key. */
function isRefusal(record: LogRecord): boolean {
  return (
    (record.status === 401 || record.status === 403) && record.connectionId === null && record.connectionName === null
  );
}

/** Sockets to upstreams, summed over the agent's origins. */
function upstreamSockets(agent: Agent): { inUse: number; idle: number } {
  let inUse = 0;
  let idle = 0;
  for (const stats of Object.values(agent.stats)) {
    if ('free' in stats) {
      inUse += stats.connected - stats.free;
      idle += stats.free;
    } else if (stats.connected) {
      if (stats.running > 0) inUse++;
      else idle++;
    }
  }
  return { inUse, idle };
}
