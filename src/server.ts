// Builds the Fastify app from its plugins: health, metrics, the admin API, the dashboard and the proxy.
import { createServer, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { type AdminDeps, adminApi } from './admin/index.js';
import type { BrowserAccess } from './browser-access.js';
import { answerClientError, answerFrameworkError, refuseTunnel } from './client-error.js';
import { dashboardRoutes } from './dashboard.js';
import { adminOnControlPlane, type GatewayError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import { isVersionPath, type ProxyDeps, type ProxyHandler, proxyHandler, proxyRoutes } from './proxy/route.js';

/** An edge's view of its control plane, for /readyz. */
export interface ControlPlaneStatus {
  url: string;
  /** The last sync and the last delivery of records both reached it. */
  reachable: boolean;
  /** When it last answered a sync, ISO 8601; null before the first time. */
  lastSyncAt: string | null;
  /** Records waiting in the on-disk spool for it. */
  spooled: number;
}

export interface ServerDeps {
  logLevel: string;
  /** Fastify's trustProxy: whose X-Forwarded-For/-Proto to believe (client IP, HTTPS). */
  trustProxy?: boolean | string;
  isReady(): boolean;
  /** The shared state behind limits and budgets, for /readyz. */
  stateStore(): { kind: 'memory' | 'redis'; available: boolean };
  /** An edge's control plane; absent on a gateway with its own store. */
  controlPlane?: () => ControlPlaneStatus;
  metrics: GatewayMetrics;
  /** The Host check and CORS (browser-access.ts). */
  access: BrowserAccess;
  /** Null on an edge: the admin API and the dashboard are the control plane's. */
  admin: AdminDeps | null;
  proxy: Omit<ProxyDeps, 'logger'>;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  // Set below, once the app (whose logger the proxy uses) exists; the server listens only after.
  let proxy: ProxyHandler | undefined;
  const app = Fastify({
    // `/v1` requests, nearly all of the traffic, go straight to the proxy: Fastify's request
    // and reply objects, routing and hooks cost about 10 µs of CPU a request, which the proxy
    // (it hijacks the reply and reads its own body) has no use for. Everything else is Fastify's.
    serverFactory: (fastify) => {
      const { clientBodyTimeoutMs } = deps.proxy;
      // node:http looks for requests over their time this often (30 s by default).
      const connectionsCheckingInterval = Math.min(30_000, Math.max(50, clientBodyTimeoutMs / 4));
      // A request must have arrived, body and all, within the client body timeout. The proxy
      // answers its own (recorded, and its timer starts after authentication), so node:http's
      // check, which bounds the admin API and the dashboard, comes a second later. Given at
      // creation: set on the server afterwards, node:http 20 did not enforce it.
      const requestTimeout = clientBodyTimeoutMs + 1_000;
      const server = createServer({ connectionsCheckingInterval, requestTimeout }, (req, res) => {
        // Before anything else, as nginx picks a server by name: a Host that is not this
        // gateway's (DNS rebinding) reaches neither the proxy nor the admin API.
        const refused = deps.access.hostRefusal(req.headers, pathOf(req.url));
        if (refused) return sendRefusal(res, refused);
        if (proxy && isVersionPath(req.url)) proxy(req, res);
        else fastify(req, res);
      });
      // Idle keep-alive connections kept 72 s (longer than the usual load balancer's 60 s), as
      // Fastify's default.
      server.on('connect', refuseTunnel);
      server.keepAliveTimeout = 72_000;
      return server;
    },
    logger: { level: deps.logLevel },
    // Every proxied request gets a log record; per-request log lines would only repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.proxy.maxBodyBytes,
    forceCloseConnections: 'idle',
    // Every error in OpenAI's shape, those of the HTTP layer too (item 11 of issue 15).
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    trustProxy: deps.trustProxy ?? false,
  });
  app.setErrorHandler(answerFrameworkError);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = deps.stateStore();
    const controlPlane = deps.controlPlane?.();
    if (!deps.isReady()) return reply.code(503).send({ status: 'starting', state, controlPlane });
    // Ready even without Redis: each connection's onStateUnavailable says what its requests get.
    // An edge is ready without its control plane too: it serves from its last snapshot.
    return { status: 'ready', state, controlPlane };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  const { admin, controlPlane } = deps;
  if (admin) {
    await app.register((scope) => adminApi(scope, admin), { prefix: '/api' });
    await app.register((scope) => dashboardRoutes(scope));
  } else {
    const where = controlPlane?.().url ?? 'the central gateway';
    app.get('/', edgeHasNoAdmin(where));
    app.all('/api', edgeHasNoAdmin(where));
    app.all('/api/*', edgeHasNoAdmin(where));
  }
  const handler = proxyHandler({ ...deps.proxy, logger: app.log });
  const guarded: ProxyHandler = (req, res) => {
    // CORS is decided per request, once: every answer the proxy writes carries it.
    for (const [name, value] of Object.entries(deps.access.corsHeaders(req.headers))) res.setHeader(name, value);
    const refused = req.method === 'OPTIONS' ? null : deps.access.originRefusal(req.headers);
    if (refused) return sendRefusal(res, refused);
    handler(req, res);
  };
  proxy = guarded;
  await app.register((scope) => proxyRoutes(scope, guarded));
  return app;
}

/** An edge's answer to /api: the admin API is on its control plane. */
function edgeHasNoAdmin(url: string) {
  const error = adminOnControlPlane(url);
  return async (_request: FastifyRequest, reply: FastifyReply) => reply.code(error.status).send(error.toBody());
}

function pathOf(url: string | undefined): string {
  const path = url ?? '/';
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** A refusal made before any route runs, in the one error shape of /v1 and /api alike. */
function sendRefusal(res: ServerResponse, error: GatewayError): void {
  const body = JSON.stringify(error.toBody());
  res
    .writeHead(error.status, {
      ...error.headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    })
    .end(body);
}
