// /api/refusals: requests refused for their credentials before any connection was known
// (a wrong or missing Usage Panda key, a wrong admin token), counted per minute and IP.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Store } from '../store/store.js';
import { Instant } from './logs.js';

const RefusalQuerySchema = z
  .object({
    ip: z.string().min(1),
    source: z.enum(['proxy', 'admin']),
    from: Instant,
    to: Instant,
    limit: z.coerce.number().int().min(1).max(500),
  })
  .partial()
  .strict();

/** `flush` writes the counts not yet stored, so the answer is up to date. */
export async function refusalRoutes(app: FastifyInstance, store: Store, flush?: () => Promise<void>): Promise<void> {
  app.get('/refusals', async (request) => {
    const { limit = 100, ...filter } = RefusalQuerySchema.parse(request.query);
    await flush?.();
    const rows = await store.queryRefusals(filter, limit);
    return { data: rows.map((row) => ({ ...row, timestamp: new Date(row.minute).toISOString() })) };
  });
}
