// Builds the Fastify app from its plugins: health, metrics, the admin API, the dashboard and the proxy.
import { createServer } from 'node:http';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { type AdminDeps, adminApi } from './admin/index.js';
import { dashboardRoutes } from './dashboard.js';
import type { GatewayMetrics } from './metrics.js';
import { isVersionPath, type ProxyDeps, type ProxyHandler, proxyHandler, proxyRoutes } from './proxy/route.js';

export interface ServerDeps {
  logLevel: string;
  isReady(): boolean;
  /** The shared state behind limits and budgets, for /readyz. */
  stateStore(): { kind: 'memory' | 'redis'; available: boolean };
  metrics: GatewayMetrics;
  admin: AdminDeps;
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
      const server = createServer((req, res) =>
        proxy && isVersionPath(req.url) ? proxy(req, res) : fastify(req, res),
      );
      // Fastify's defaults for a server it makes itself: idle keep-alive connections kept
      // 72 s (longer than the usual load balancer's 60 s), and no limit on a request's time.
      server.keepAliveTimeout = 72_000;
      server.requestTimeout = 0;
      return server;
    },
    logger: { level: deps.logLevel },
    // Every proxied request gets a log record; per-request log lines would only repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.proxy.maxBodyBytes,
    forceCloseConnections: 'idle',
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = deps.stateStore();
    if (!deps.isReady()) return reply.code(503).send({ status: 'starting', state });
    // Ready even without Redis: each connection's onStateUnavailable says what its requests get.
    return { status: 'ready', state };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  await app.register((scope) => adminApi(scope, deps.admin), { prefix: '/api' });
  await app.register((scope) => dashboardRoutes(scope));
  const handler = proxyHandler({ ...deps.proxy, logger: app.log });
  proxy = handler;
  await app.register((scope) => proxyRoutes(scope, handler));
  return app;
}
