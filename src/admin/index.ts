// The admin API under /api: JSON in and out, behind the admin token, errors in OpenAI's shape.
import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import type { AutoReplyDirectory } from '../autoreplies/directory.js';
import type { ConnectionDirectory } from '../connections/directory.js';
import { adminUnauthorized, badRequest, GatewayError, internalError, notFound } from '../errors.js';
import type { Store } from '../store/store.js';
import { autoReplyRoutes } from './autoreplies.js';
import { connectionRoutes } from './connections.js';
import { logRoutes } from './logs.js';
import { statsRoutes } from './stats.js';
import type { AdminToken } from './token.js';

export interface AdminDeps {
  store: Store;
  connections: ConnectionDirectory;
  autoReplies: AutoReplyDirectory;
  adminToken: AdminToken;
}

export async function adminApi(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const token = header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : undefined;
    if (!token || !deps.adminToken.verify(token)) throw adminUnauthorized();
  });

  app.setErrorHandler((err: FastifyError | Error, _request, reply) => {
    const error = toAdminError(err);
    if (error.status >= 500) reply.log.error({ err }, 'admin API error');
    reply.code(error.status).headers(error.headers).send(error.toBody());
  });
  // Claims every other /api path, so the proxy's catch-all never sees one.
  app.all('/*', async (_request, reply) => {
    const error = notFound('admin route');
    reply.code(error.status).send(error.toBody());
  });

  await app.register((scope) => connectionRoutes(scope, deps.connections));
  await app.register((scope) => logRoutes(scope, deps.store));
  await app.register((scope) => autoReplyRoutes(scope, deps.autoReplies));
  await app.register((scope) => statsRoutes(scope, deps.store));
}

function toAdminError(err: FastifyError | Error): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return badRequest(`${where}${issue?.message ?? 'invalid input'}`);
  }
  const status = (err as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return badRequest(err.message);
  return internalError();
}
