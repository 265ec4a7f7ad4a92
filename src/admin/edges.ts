// /api/edge-tokens (admin: make, list, revoke edge tokens) and /api/edge/* (the edges'
// own API, behind an edge token: the snapshot to serve from and the records to store).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type EdgeControl, EdgeTokenCreateSchema, publicEdgeToken } from '../edge/control.js';
import { EdgeRecordsSchema } from '../edge/records.js';
import { notFound } from '../errors.js';

const IdParams = z.object({ id: z.string().min(1) });

export async function edgeTokenRoutes(app: FastifyInstance, edges: EdgeControl): Promise<void> {
  app.get('/edge-tokens', async () => ({ data: (await edges.list()).map(publicEdgeToken) }));

  app.post('/edge-tokens', async (request, reply) => {
    const { edge, token } = await edges.create(EdgeTokenCreateSchema.parse(request.body ?? {}));
    reply.code(201);
    return { ...publicEdgeToken(edge), token };
  });

  app.delete('/edge-tokens/:id', async (request, reply) => {
    const { id } = IdParams.parse(request.params);
    if (!(await edges.revoke(id))) throw notFound('edge token');
    reply.code(204);
  });
}

/** Registered outside the admin auth: an edge token opens these two routes and nothing else. */
export async function edgeApiRoutes(app: FastifyInstance, edges: EdgeControl): Promise<void> {
  app.get('/edge/config', async (request, reply) => {
    const caller = await edges.authenticate(request.headers.authorization);
    const ifNoneMatch = request.headers['if-none-match']?.replace(/^W\//, '').replace(/"/g, '');
    const snapshot = await edges.snapshot(caller, ifNoneMatch);
    reply.header('cache-control', 'no-store');
    if (!snapshot) return reply.code(304).header('etag', `"${ifNoneMatch}"`).send();
    reply.header('etag', `"${snapshot.version}"`);
    return snapshot;
  });

  app.post('/edge/records', async (request, reply) => {
    const caller = await edges.authenticate(request.headers.authorization);
    const { records } = EdgeRecordsSchema.parse(request.body ?? {});
    await edges.ingest(caller, records);
    reply.code(202);
    return { accepted: records.length };
  });
}
