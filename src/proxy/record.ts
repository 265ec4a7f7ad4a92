// Turns a finished exchange into its log record.
import { type LogRecord, STANDALONE_CONNECTION_NAME } from '../domain.js';
import type { Exchange } from './exchange.js';

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function toLogRecord(ex: Exchange, provider: string): LogRecord {
  const header = (name: string) => ex.header(name) ?? null;
  return {
    id: ex.id,
    ts: ex.ts,
    connectionId: ex.connection?.id ?? null,
    connectionName: ex.connection?.name ?? (ex.standalone ? STANDALONE_CONNECTION_NAME : null),
    endpoint: ex.path,
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
    costUsd: ex.costUsd,
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
}
