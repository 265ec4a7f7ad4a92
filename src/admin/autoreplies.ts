// /api/autoreplies: list, create, read, update, delete; file-managed ones are read-only.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  AutoReplyCreateSchema,
  type AutoReplyDirectory,
  AutoReplyUpdateSchema,
  publicAutoReply,
} from '../autoreplies/directory.js';
import { managedByFile, notFound } from '../errors.js';

const IdParams = z.object({ id: z.string().min(1) });

export async function autoReplyRoutes(app: FastifyInstance, replies: AutoReplyDirectory): Promise<void> {
  const { store } = replies;

  /** The auto-reply, if it exists and may be changed through the API. */
  async function writable(id: string) {
    const reply = await store.findAutoReply(id);
    if (!reply) throw notFound('auto-reply');
    if (reply.managedBy === 'file') throw managedByFile('this auto-reply');
    return reply;
  }

  app.get('/autoreplies', async () => ({ data: (await store.listAutoReplies()).map(publicAutoReply) }));

  app.post('/autoreplies', async (request, reply) => {
    const input = AutoReplyCreateSchema.parse(request.body ?? {});
    const created = await store.insertAutoReply({ ...input, managedBy: 'api' });
    replies.invalidate();
    reply.code(201);
    return publicAutoReply(created);
  });

  app.get('/autoreplies/:id', async (request) => {
    const { id } = IdParams.parse(request.params);
    const found = await store.findAutoReply(id);
    if (!found) throw notFound('auto-reply');
    return publicAutoReply(found);
  });

  app.patch('/autoreplies/:id', async (request) => {
    const { id } = IdParams.parse(request.params);
    const patch = AutoReplyUpdateSchema.parse(request.body ?? {});
    await writable(id);
    const updated = await store.updateAutoReply(id, patch);
    replies.invalidate();
    if (!updated) throw notFound('auto-reply');
    return publicAutoReply(updated);
  });

  app.delete('/autoreplies/:id', async (request, reply) => {
    const { id } = IdParams.parse(request.params);
    await writable(id);
    await store.deleteAutoReply(id);
    replies.invalidate();
    reply.code(204);
  });
}
