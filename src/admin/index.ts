// The admin API under /api: JSON in and out, behind the admin token, errors in OpenAI's shape.
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import type { AutoReplyDirectory } from '../autoreplies/directory.js';
import type { ConnectionDirectory } from '../connections/directory.js';
import type { EdgeControl } from '../edge/control.js';
import { badRequest, GatewayError, httpLayerError, notFound } from '../errors.js';
import type { SpendControl } from '../spend/control.js';
import type { Store } from '../store/store.js';
import { alertRoutes } from './alerts.js';
import type { AdminAuthLimit } from './auth-limit.js';
import { autoReplyRoutes } from './autoreplies.js';
import { budgetRoutes } from './budgets.js';
import { connectionRoutes } from './connections.js';
import { edgeApiRoutes, edgeTokenRoutes } from './edges.js';
import { logRoutes } from './logs.js';
import { refusalRoutes } from './refusals.js';
import { authorizeAdmin, type Sessions, sessionRoutes } from './session.js';
import { statsRoutes } from './stats.js';
import type { AdminToken } from './token.js';

export interface AdminDeps {
  store: Store;
  connections: ConnectionDirectory;
  autoReplies: AutoReplyDirectory;
  /** Limits and budgets, for /api/budgets (absent: no such route). */
  spend?: SpendControl;
  adminToken: AdminToken;
  /** Edge tokens and the edges' API (absent: no such routes). */
  edges?: EdgeControl;
  /** Dashboard sessions; without them the API takes only the bearer token. */
  sessions?: Sessions;
  /** Limits failed token attempts per IP. */
  authLimit?: AdminAuthLimit;
  /** Told of every request refused for its credentials (401, 403, 429), to count it. */
  onRefused?(ip: string, status: number): void;
  /** Writes the refusal counts not yet stored. */
  flushRefusals?(): Promise<void>;
}

export async function adminApi(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    const error = toAdminError(err, request.routeOptions.bodyLimit);
    if (REFUSED.has(error.code)) deps.onRefused?.(request.ip, error.status);
    if (error.status >= 500) reply.log.error({ err }, 'admin API error');
    reply.code(error.status).headers(error.headers).send(error.toBody());
  });

  // Signing in and out happens before there is a session, so it sits outside the auth hook.
  const { sessions } = deps;
  if (sessions) await app.register((scope) => sessionRoutes(scope, deps.adminToken, sessions, deps.authLimit));
  // Edges authenticate with their own token, which opens nothing else.
  const { edges } = deps;
  if (edges) await app.register((scope) => edgeApiRoutes(scope, edges));
  await app.register(async (secured) => {
    secured.addHook('onRequest', async (request) =>
      authorizeAdmin(request, deps.adminToken, deps.sessions, deps.authLimit),
    );
    // Claims every other /api path, so the proxy's catch-all never sees one.
    secured.all('/*', async (_request, reply) => {
      const error = notFound('admin route');
      reply.code(error.status).send(error.toBody());
    });
    await secured.register((scope) => connectionRoutes(scope, deps.connections));
    await secured.register((scope) => logRoutes(scope, deps.store));
    await secured.register((scope) => autoReplyRoutes(scope, deps.autoReplies));
    await secured.register((scope) => statsRoutes(scope, deps.store));
    await secured.register((scope) => alertRoutes(scope, deps.store));
    await secured.register((scope) => refusalRoutes(scope, deps.store, deps.flushRefusals));
    const { spend } = deps;
    if (spend) await secured.register((scope) => budgetRoutes(scope, deps.connections, spend));
    if (edges) await secured.register((scope) => edgeTokenRoutes(scope, edges));
  });
}

/** Refusals of the caller's credentials: counted per IP like the proxy's, not logged. */
const REFUSED = new Set([
  'UP_ERR_ADMIN_UNAUTHORIZED',
  'UP_ERR_EDGE_UNAUTHORIZED',
  'UP_ERR_CSRF',
  'UP_ERR_ADMIN_AUTH_LIMITED',
]);

function toAdminError(err: FastifyError | Error, bodyLimit: number): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return badRequest(`${where}${issue?.message ?? 'invalid input'}`);
  }
  return httpLayerError(err, bodyLimit);
}
