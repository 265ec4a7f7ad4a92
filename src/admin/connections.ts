// /api/connections: list, create (the key is shown once), read, update, delete, rotate.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  ConnectionCreateSchema,
  type ConnectionDirectory,
  ConnectionUpdateSchema,
  publicConnection,
} from '../connections/directory.js';
import { notFound } from '../errors.js';

const IdParams = z.object({ id: z.string().min(1) });

export async function connectionRoutes(app: FastifyInstance, connections: ConnectionDirectory): Promise<void> {
  app.get('/connections', async () => ({ data: (await connections.list()).map(publicConnection) }));

  app.post('/connections', async (request, reply) => {
    const input = ConnectionCreateSchema.parse(request.body ?? {});
    const { connection, key } = await connections.create(input);
    reply.code(201);
    return { ...publicConnection(connection), key };
  });

  app.get('/connections/:id', async (request) => {
    const { id } = IdParams.parse(request.params);
    const connection = await connections.get(id);
    if (!connection) throw notFound('connection');
    return publicConnection(connection);
  });

  app.patch('/connections/:id', async (request) => {
    const { id } = IdParams.parse(request.params);
    const connection = await connections.update(id, ConnectionUpdateSchema.parse(request.body ?? {}));
    if (!connection) throw notFound('connection');
    return publicConnection(connection);
  });

  app.delete('/connections/:id', async (request, reply) => {
    const { id } = IdParams.parse(request.params);
    if (!(await connections.remove(id))) throw notFound('connection');
    reply.code(204);
  });

  app.post('/connections/:id/rotate', async (request) => {
    const { id } = IdParams.parse(request.params);
    const rotated = await connections.rotate(id);
    if (!rotated) throw notFound('connection');
    return { ...publicConnection(rotated.connection), key: rotated.key };
  });
}
