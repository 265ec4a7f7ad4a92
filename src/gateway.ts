// Assembles a running gateway from a Config: store, secrets, connections, log writer,
// upstream agent and server; and takes it down again in order, draining what is in flight.
// `serve` is the part an edge gateway (edge-gateway.ts) shares: everything but the store.
import { chmod, mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Agent } from 'undici';
import { withBilledParts } from './accounting/billed-parts.js';
import { createPriceBook } from './accounting/prices.js';
import { AdminAuthLimit } from './admin/auth-limit.js';
import type { AdminDeps } from './admin/index.js';
import { createSessions } from './admin/session.js';
import { ensureAdminToken, type StoredAdminToken } from './admin/token.js';
import { AutoReplyDirectory } from './autoreplies/directory.js';
import { browserAccess } from './browser-access.js';
import { applyConfigFile } from './config/apply.js';
import type { Config } from './config/config.js';
import { ConnectionDirectory } from './connections/directory.js';
import type { LogRecord } from './domain.js';
import { EdgeControl } from './edge/control.js';
import { createMetrics, type GatewayMetrics, type MetricSources } from './metrics.js';
import { type MockUpstream, startMockUpstream } from './mock-upstream/server.js';
import { PolicySettingsSchema } from './policy-settings.js';
import { createUpstreamAgent } from './proxy/forward.js';
import type { ProxyAutoReplies, ProxyConnections } from './proxy/route.js';
import { Cooldowns } from './proxy/routing.js';
import { StreamOptionsRefusals } from './proxy/stream.js';
import { createSecretBox, loadSecret } from './secrets/cipher.js';
import { buildServer, type ControlPlaneStatus } from './server.js';
import { SpendControl } from './spend/control.js';
import { openState } from './state/index.js';
import type { SharedState } from './state/state.js';
import type { LogWriter } from './store/log-writer.js';
import { createRefusalCounter } from './store/refusal-counter.js';
import { RetentionSchema, startRetention } from './store/retention.js';
import { openStore } from './store/sql-store.js';
import type { Store } from './store/store.js';
import { startWorkerLogWriter } from './store/worker-log-writer.js';
import { createRequestTracer } from './telemetry.js';

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
  // An edge has no store: it is assembled by startEdge (edge-gateway.ts), as the CLI does.
  if (config.controlPlane) throw new Error('this config is an edge gateway’s: start it with startEdge');
  const store = await openConfiguredStore(config);
  const secret = await loadSecret(config.secret, config.dataDir);
  const box = createSecretBox(secret);
  // Without a file there is nothing to reconcile: file-managed connections stay as they were.
  const applied = config.configFile ? await applyConfigFile(config.file, store, box) : null;
  const connections = new ConnectionDirectory(store, box);
  const autoReplies = new AutoReplyDirectory(store);
  const adminToken = await ensureAdminToken(store, config.adminToken);

  let log: FastifyBaseLogger | undefined;
  const refusals = createRefusalCounter(store, {
    onError: (err) => log?.error({ err }, 'writing refusal counts failed'),
  });
  const authLimit = new AdminAuthLimit({
    maxFailures: config.adminAuthMaxFailures,
    windowMs: config.adminAuthWindowMs,
  });
  let metrics: GatewayMetrics | undefined;
  // Records are written in a worker thread with its own connection to the same database.
  // PostgreSQL is another server, which can be away: records wait on local disk meanwhile.
  // (A SQLite file is the gateway's own; when it fails, so does the disk a spool would use.)
  const logWriter: LogWriter = await startWorkerLogWriter({
    store: { databaseUrl: config.databaseUrl, dataDir: config.dataDir },
    spool:
      store.dialect === 'postgres'
        ? { dir: join(config.dataDir, 'spool', 'records'), maxBytes: config.storeSpoolMaxBytes }
        : undefined,
    onDrop: () => log?.warn('log queue full: a log record was dropped (counted in /metrics)'),
    onError: (err, records) => log?.error({ err, records }, 'writing log records failed'),
    onWritten: (records, ms) => metrics?.storeWrite(records, ms),
    onRollError: (err) => log?.error({ err }, "sliding the end users' windows failed"),
    onStoreState: (available) =>
      available
        ? log?.info('the store takes log records again; the spooled ones are written')
        : log?.warn('the store refuses log records: spooling them on disk until it answers'),
  });
  let stopRetention: () => Promise<void> = async () => {};
  const served = await serve(config, options, {
    connections,
    autoReplies,
    admin: (spend, metrics) => ({
      store,
      connections,
      autoReplies,
      spend,
      edges: new EdgeControl(store, box),
      adminToken,
      sessions: createSessions(adminToken, secret, store),
      authLimit,
      onRefused(ip, status) {
        metrics.refused('admin', status);
        refusals.add('admin', status, ip);
      },
      flushRefusals: () => refusals.flush(),
    }),
    logWriter: () => logWriter,
    store: () => ({ available: logWriter.stats.storeAvailable, spooled: logWriter.stats.spooled }),
    onState: (state) => shareChanges(state, connections, autoReplies),
    refused: (record) => refusals.add('proxy', record.status, record.ip),
    keep: (record) => logWriter.enqueue(record),
    beforeListen(app, gatewayMetrics) {
      log = app.log;
      metrics = gatewayMetrics;
      stopRetention = startRetention(store, config.file.retention ?? RetentionSchema.parse({}), app.log);
      if (applied) app.log.info({ file: config.configFile, ...applied }, 'config file applied');
    },
  });
  return {
    url: served.url,
    app: served.app,
    store,
    connections,
    logWriter,
    adminToken,
    mockUpstream: served.mockUpstream,
    spend: served.spend,
    async close() {
      await served.close({
        beforeServer: () => stopRetention(),
        afterServer: async () => {
          await logWriter.close();
          await refusals.close();
        },
      });
      await store.close();
    },
  };
}

/** What differs between a gateway with a store and an edge: where connections come from, where records go. */
export interface ServeParts {
  connections: ProxyConnections;
  autoReplies: ProxyAutoReplies;
  /** The admin API's dependencies; null on an edge, whose /api answers 404. */
  admin: ((spend: SpendControl, metrics: GatewayMetrics) => AdminDeps) | null;
  /** The control plane an edge syncs from: named in its /api answers and checked in /readyz. */
  controlPlane?: () => ControlPlaneStatus;
  /** The log store's state, for /readyz; an edge has none. */
  store?: () => { available: boolean; spooled: number };
  logWriter?: () => LogWriter | undefined;
  edgeMetrics?: MetricSources['edge'];
  onState?(state: SharedState): void;
  /** A request refused for its key, beyond the metrics. */
  refused?(record: LogRecord): void;
  /** Where every other record goes. */
  keep(record: LogRecord): void;
  /** Called with the app (and its logger) and the metrics before it listens. */
  beforeListen?(app: FastifyInstance, metrics: GatewayMetrics): void;
}

export interface Served {
  url: string;
  app: FastifyInstance;
  mockUpstream: MockUpstream | null;
  spend: SpendControl;
  /** Stops taking requests, lets those in flight finish (cut after the grace period), then stops the rest. */
  close(steps: { beforeServer?(): Promise<void>; afterServer?(): Promise<void> }): Promise<void>;
}

/** The proxy's server and what it runs on (upstream agent, limits and budgets, metrics), listening. */
export async function serve(config: Config, options: GatewayOptions, parts: ServeParts): Promise<Served> {
  const mockUpstream = config.mockUpstream ? await startMockUpstream({ port: 0 }) : null;
  const agent = createUpstreamAgent(config);
  let ready = false;
  let cutting = false;
  let clientConnections = 0;
  const metrics = createMetrics({
    logWriter: parts.logWriter ?? (() => undefined),
    clientConnections: () => clientConnections,
    upstreamSockets: () => upstreamSockets(agent),
    edge: parts.edgeMetrics,
  });
  // Set once the app (whose logger reports Redis errors) exists.
  let reportStateError: (err: unknown) => void = () => {};
  const state = await openState({ redisUrl: config.redisUrl, onError: (err) => reportStateError(err) });
  parts.onState?.(state);
  const prices = createPriceBook(config.file.prices);
  const tracer = createRequestTracer(config);
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
    controlPlane: parts.controlPlane,
    store: parts.store,
    metrics,
    access: browserAccess({
      listenHost: config.host,
      keyless: config.file.standalone || config.defaultApiKey !== undefined,
      allowedHosts: config.allowedHosts,
      corsOrigins: config.corsOrigins,
    }),
    admin: parts.admin ? parts.admin(spend, metrics) : null,
    proxy: {
      connections: parts.connections,
      autoReplies: parts.autoReplies,
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
      record(proxyRecord, ex) {
        // The proxy's record has the total cost; the parts it was billed for are added here.
        const record = withBilledParts(proxyRecord, ex, prices);
        metrics.observe(record);
        if (isRefusal(record)) {
          // Counted per IP and minute, not logged nor traced: a loop of wrong keys must not fill the log.
          metrics.refused('proxy', record.status);
          parts.refused?.(record);
        } else {
          parts.keep(record);
          tracer?.trace(record, ex);
        }
      },
    },
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

  parts.beforeListen?.(app, metrics);
  await app.listen({ port: config.port, host: config.host });
  ready = true;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  return {
    url: `http://${host}:${port}`,
    app,
    mockUpstream,
    spend,
    async close(steps) {
      ready = false;
      await steps.beforeServer?.();
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
      await tracer?.shutdown();
      await steps.afterServer?.();
      await agent.close();
      spend.close();
      await state.close();
      await mockUpstream?.close();
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
