// Turns a finished exchange into its log record, priced.
import { withBilledParts } from '../accounting/billed-parts.js';
import { type PriceBook, priceProviderOf } from '../accounting/prices.js';
import { type LogRecord, STANDALONE_CONNECTION_NAME } from '../domain.js';
import type { Exchange } from '../exchange.js';
import { isBilled } from '../wire/endpoints.js';

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function toLogRecord(ex: Exchange, provider: string, prices: PriceBook): LogRecord {
  const header = (name: string) => ex.header(name) ?? null;
  const record: LogRecord = {
    id: ex.id,
    ts: ex.ts,
    connectionId: ex.connection?.id ?? null,
    connectionName: ex.connection?.name ?? (ex.standalone ? STANDALONE_CONNECTION_NAME : null),
    endpoint: ex.native?.path ?? ex.path,
    method: ex.method,
    operation: ex.operation,
    model: ex.model,
    stream: ex.stream,
    status: ex.status,
    error: ex.error,
    latencyMs: round(ex.elapsedMs()),
    upstreamLatencyMs: ex.upstreamLatencyMs === null ? null : round(ex.upstreamLatencyMs),
    promptTokens: ex.usage?.promptTokens ?? null,
    completionTokens: ex.usage?.completionTokens ?? null,
    totalTokens: ex.usage?.totalTokens ?? null,
    cachedTokens: ex.usage?.cachedTokens ?? null,
    reasoningTokens: ex.usage?.reasoningTokens ?? null,
    usageEstimated: ex.usage?.estimated === true,
    costUsd: costOf(ex, provider, prices),
    upstreamId: ex.upstreamId,
    organization: header('openai-organization'),
    ip: ex.ip,
    userAgent: header('user-agent'),
    endUser: ex.endUser,
    traceId: ex.traceId,
    flags: ex.flags,
    moderated: ex.moderated,
    provider,
    requestBody: ex.requestBodyText,
    responseBody: ex.responseBodyText,
    attempts: ex.attempts,
  };
  // The total above; the parts it was billed for (cache writes, web searches, tier, cost by part) beside it.
  return withBilledParts(record, ex, prices);
}

/** Operations the provider does not bill per request. */
const FREE_OPERATIONS = new Set(['moderation', 'other']);

/**
 * What the request cost. Nothing was billed when upstream was never called (blocked,
 * auto-replied, refused by the gateway) or answered an error without usage.
 */
export function costOf(ex: Exchange, provider: string, prices: PriceBook): number | null {
  if (ex.blocked || ex.answer || ex.upstreamHeadersMs === null) return 0;
  // Reads, deletes, stored items and uploads: upstream bills the model call, not these.
  if (FREE_OPERATIONS.has(ex.operation) || !isBilled(ex.endpoint)) return 0;
  if (ex.status >= 400 && !ex.usage) return 0;
  const image =
    ex.operation === 'image'
      ? { n: imageCount(ex.json?.n ?? ex.field('n')), size: ex.field('size'), quality: ex.field('quality') }
      : undefined;
  const model = ex.providerModel ?? ex.model;
  return prices.cost({
    provider: priceProviderOf(provider),
    endpoint: ex.endpoint,
    model,
    usage: ex.usage,
    image,
  });
}

function imageCount(value: unknown): number {
  const n = Number(value ?? 1);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
