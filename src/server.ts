// Builds the Fastify app from its plugins: health, metrics, the admin API, the dashboard and the proxy.
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { type AdminDeps, adminApi } from './admin/index.js';
import { dashboardRoutes } from './dashboard.js';
import type { GatewayMetrics } from './metrics.js';
import { type ProxyDeps, proxyRoutes } from './proxy/route.js';

export interface ServerDeps {
  logLevel: string;
  isReady(): boolean;
  metrics: GatewayMetrics;
  admin: AdminDeps;
  proxy: Omit<ProxyDeps, 'logger'>;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: deps.logLevel },
    // Every proxied request gets a log record; per-request log lines would only repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.proxy.maxBodyBytes,
    forceCloseConnections: 'idle',
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!deps.isReady()) return reply.code(503).send({ status: 'starting' });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  await app.register((scope) => adminApi(scope, deps.admin), { prefix: '/api' });
  await app.register((scope) => dashboardRoutes(scope));
  await app.register((scope) => proxyRoutes(scope, { ...deps.proxy, logger: app.log }));
  return app;
}
