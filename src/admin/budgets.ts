// /api/budgets: where each limit and budget of a connection stands in its current window —
// used (or spent), reserved by requests in flight, and what remains.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ConnectionDirectory } from '../connections/directory.js';
import { notFound } from '../errors.js';
import type { SpendControl } from '../spend/control.js';

const BudgetQuery = z
  .object({
    connection: z.string().min(1, 'connection is required'),
    /** An end user: adds the limits and budgets `per: user` for them. */
    user: z.string().min(1).optional(),
  })
  .strict();

export async function budgetRoutes(
  app: FastifyInstance,
  connections: ConnectionDirectory,
  spend: SpendControl,
): Promise<void> {
  app.get('/budgets', async (request) => {
    const query = BudgetQuery.parse(request.query ?? {});
    const connection = await connections.get(query.connection);
    if (!connection) throw notFound('connection');
    return { data: await spend.status(connection.id, connection.policy, query.user ?? null) };
  });
}
