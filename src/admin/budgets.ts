// /api/budgets: where each limit and budget of a connection stands in its current window —
// used (or spent), reserved by requests in flight, and what remains.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ConnectionDirectory } from '../connections/directory.js';
import { notFound } from '../errors.js';
import type { SpendControl } from '../spend/control.js';

/** How many end users one batched request may ask about: the End-User Tracking table asks page by page. */
export const MAX_BUDGET_USERS = 100;

const BudgetQuery = z
  .object({
    connection: z.string().min(1, 'connection is required'),
    /** An end user: adds the limits and budgets `per: user` for them. */
    user: z.string().min(1).optional(),
    /** Many end users (the parameter repeated): only the `per: user` ones, for each of them. */
    users: z
      .union([
        z
          .string()
          .min(1)
          .transform((user) => [user]),
        z.array(z.string().min(1)),
      ])
      .pipe(z.array(z.string()).max(MAX_BUDGET_USERS, `at most ${MAX_BUDGET_USERS} end users at once`))
      .optional(),
  })
  .strict()
  .refine((query) => query.user === undefined || query.users === undefined, {
    message: 'give user or users, not both',
  });

export async function budgetRoutes(
  app: FastifyInstance,
  connections: ConnectionDirectory,
  spend: SpendControl,
): Promise<void> {
  app.get('/budgets', async (request) => {
    const query = BudgetQuery.parse(request.query ?? {});
    const connection = await connections.get(query.connection);
    if (!connection) throw notFound('connection');
    if (query.users) return { data: await spend.usersStatus(connection.id, connection.policy, query.users) };
    return { data: await spend.status(connection.id, connection.policy, query.user ?? null) };
  });
}
