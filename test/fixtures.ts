// Test data shared by unit and end-to-end tests.
import type { LogRecord } from '../src/domain.js';
import { newRequestId } from '../src/exchange.js';

/** A complete, plausible log record; override what the test is about. Its id begins with its time, as the gateway's do. */
export function logRecord(overrides: Partial<LogRecord> = {}): LogRecord {
  const ts = overrides.ts ?? Date.now();
  return {
    id: newRequestId(ts),
    ts,
    connectionId: 'conn_a',
    connectionName: 'a',
    endpoint: '/v1/chat/completions',
    method: 'POST',
    operation: 'chat',
    model: 'gpt-4o-mini',
    stream: false,
    status: 200,
    error: null,
    latencyMs: 12.5,
    upstreamLatencyMs: 10.25,
    promptTokens: 3,
    completionTokens: 5,
    totalTokens: 8,
    cachedTokens: null,
    reasoningTokens: null,
    usageEstimated: false,
    costUsd: 0.000123,
    upstreamId: 'chatcmpl-1',
    organization: null,
    ip: '127.0.0.1',
    userAgent: 'test, "quoted"',
    endUser: 'user-1',
    traceId: null,
    flags: [],
    moderated: false,
    provider: 'openai',
    requestBody: null,
    responseBody: null,
    attempts: [],
    ...overrides,
  };
}
