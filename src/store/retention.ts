// Retention: records older than `recordDays` are deleted, and the request/response bodies
// of records older than `bodyDays` are cleared sooner — in the background, in small
// chunks so writers are never blocked for long. The hourly rollups are kept, so the stats
// of past periods survive the records they were summed from.
import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import { DAY_MS } from '../domain.js';
import type { Store } from './store.js';

const Days = z.number().int().min(0);

/** The config file's `retention:` section; 0 (the default) keeps forever. */
export const RetentionSchema = z
  .object({
    recordDays: Days.default(0),
    bodyDays: Days.default(0),
    /** How often the sweep runs. */
    intervalMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .default(60),
  })
  .strict();
export type RetentionSettings = z.infer<typeof RetentionSchema>;

export interface RetentionResult {
  recordsDeleted: number;
  bodiesCleared: number;
}

/** One sweep at `now`. */
export async function applyRetention(
  store: Pick<Store, 'deleteLogsBefore' | 'clearBodiesBefore'>,
  settings: RetentionSettings,
  now: number,
): Promise<RetentionResult> {
  const recordsDeleted = settings.recordDays > 0 ? await store.deleteLogsBefore(now - settings.recordDays * DAY_MS) : 0;
  const bodiesCleared = settings.bodyDays > 0 ? await store.clearBodiesBefore(now - settings.bodyDays * DAY_MS) : 0;
  return { recordsDeleted, bodiesCleared };
}

/**
 * Runs a sweep now and then every interval, on one replica at a time (a replica finding
 * another's sweep under way skips its turn); the returned stop waits for a sweep in progress.
 */
export function startRetention(
  store: Store,
  settings: RetentionSettings,
  logger: FastifyBaseLogger,
): () => Promise<void> {
  if (settings.recordDays === 0 && settings.bodyDays === 0) return async () => {};
  let running: Promise<void> | null = null;
  const sweep = () => {
    running ??= store
      .exclusive('retention', () => applyRetention(store, settings, Date.now()))
      .then((result) => {
        if (result && (result.recordsDeleted || result.bodiesCleared)) logger.info(result, 'retention sweep');
      })
      .catch((err: unknown) => logger.error({ err }, 'retention sweep failed'))
      .finally(() => {
        running = null;
      });
  };
  sweep();
  const timer = setInterval(sweep, settings.intervalMinutes * 60_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
