// /api/logs: the request log, newest first, filtered, with cursor pagination.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type LogRecord, OPERATIONS, PROVIDERS } from '../domain.js';
import { notFound } from '../errors.js';
import type { LogFilter, Store } from '../store/store.js';
import { logsCsv } from './export.js';

/** A time as epoch milliseconds or an ISO 8601 string. */
export const Instant = z.union([
  z.coerce.number().int().nonnegative(),
  z.iso.datetime({ offset: true }).transform((value) => Date.parse(value)),
]);

export const LogQuerySchema = z
  .object({
    connection: z.string().min(1),
    user: z.string().min(1),
    model: z.string().min(1),
    operation: z.enum(OPERATIONS),
    provider: z.enum(PROVIDERS),
    flag: z.string().min(1),
    error: z.enum(['true', 'false']).transform((value) => value === 'true'),
    traceId: z.string().min(1),
    from: Instant,
    to: Instant,
    limit: z.coerce.number().int().min(1).max(500),
    cursor: z.string().min(1),
    /** A record id: only newer records (what a live view has not shown yet). */
    since: z.string().min(1).max(100),
  })
  .partial()
  .strict();
export type LogQuery = z.infer<typeof LogQuerySchema>;

export function toLogFilter(query: LogQuery): LogFilter {
  return {
    connectionId: query.connection,
    endUser: query.user,
    model: query.model,
    operation: query.operation,
    provider: query.provider,
    flagType: query.flag,
    error: query.error,
    traceId: query.traceId,
    from: query.from,
    to: query.to,
  };
}

/** A record as the API shows it: the stored fields plus an ISO timestamp. */
export const publicLogRecord = (record: LogRecord) => ({
  ...record,
  edge: record.edge ?? null,
  timestamp: new Date(record.ts).toISOString(),
});

export async function logRoutes(app: FastifyInstance, store: Store): Promise<void> {
  app.get('/logs', async (request) => {
    const query = LogQuerySchema.parse(request.query);
    const page = await store.queryLogs(toLogFilter(query), {
      limit: query.limit ?? 50,
      cursor: query.cursor,
      since: query.since,
    });
    return { data: page.records.map(publicLogRecord), nextCursor: page.nextCursor };
  });

  // Registered before /logs/:id so `export.csv` is not taken for a record id.
  app.get('/logs/export.csv', async (request, reply) => {
    const query = LogQuerySchema.omit({ limit: true, cursor: true, since: true }).parse(request.query);
    reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="usage-panda-logs.csv"');
    return reply.send(logsCsv(store, toLogFilter(query)));
  });

  app.get('/logs/:id', async (request) => {
    const { id } = z.object({ id: z.string().min(1) }).parse(request.params);
    const record = await store.findLog(id);
    if (!record) throw notFound('log record');
    return publicLogRecord(record);
  });
}
