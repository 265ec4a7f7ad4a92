// OpenTelemetry traces of proxied requests, exported over OTLP/HTTP (JSON): one span per request
// with its phases as child spans, built when the request's record is made, from the record's and
// the exchange's timings (explicit start and end times, nothing threaded through the proxy).
// Off, and free, unless an OTLP endpoint is configured.
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Config } from './config/config.js';
import type { LogRecord, Operation } from './domain.js';
import type { Exchange } from './exchange.js';

export interface RequestTracer {
  /** Exports the span of one finished request. */
  trace(record: LogRecord, ex: Exchange): void;
  /** Exports what is still buffered, then stops. */
  shutdown(): Promise<void>;
}

/** The GenAI semantic conventions' operation names; ours where they have none. */
const GEN_AI_OPERATIONS: Partial<Record<Operation, string>> = {
  chat: 'chat',
  response: 'chat',
  completion: 'text_completion',
  embedding: 'embeddings',
};

/** The GenAI semantic conventions' provider names (`gen_ai.provider.name`, formerly `gen_ai.system`). */
const GEN_AI_PROVIDERS: Record<string, string> = {
  openai: 'openai',
  azure: 'azure.ai.openai',
  anthropic: 'anthropic',
  gemini: 'gcp.gemini',
  bedrock: 'aws.bedrock',
};

const EXPORT_TIMEOUT_MS = 5_000;

/** A tracer exporting to the configured OTLP endpoint, or null when none is (no traces, no cost). */
export function createRequestTracer(config: Config): RequestTracer | null {
  const url =
    config.otlpTracesEndpoint ?? (config.otlpEndpoint && `${config.otlpEndpoint.replace(/\/$/, '')}/v1/traces`);
  if (!url) return null;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.otelServiceName ?? 'usage-panda' }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({
          url,
          headers: parseOtlpHeaders(config.otlpHeaders ?? ''),
          // A receiver that does not answer holds up shutdown at most this long.
          timeoutMillis: EXPORT_TIMEOUT_MS,
        }),
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      }),
    ],
  });
  const tracer = provider.getTracer('usage-panda');
  return {
    trace: (record, ex) => traceRequest(tracer, record, ex),
    // Traces are best effort: a receiver that is down must not fail the gateway's shutdown.
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}

/** `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values URL-encoded. */
export function parseOtlpHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

function traceRequest(tracer: Tracer, record: LogRecord, ex: Exchange): void {
  // Times as epoch ms: the record's arrival time plus performance.now() offsets from the exchange.
  const start = record.ts;
  const end = start + record.latencyMs;
  const at = (performanceTime: number) => start + (performanceTime - ex.startedAt);
  const operation = GEN_AI_OPERATIONS[record.operation] ?? record.operation;
  const span = tracer.startSpan(
    record.model ? `${operation} ${record.model}` : operation,
    { kind: SpanKind.SERVER, startTime: start, attributes: requestAttributes(record, ex, operation) },
    parentOf(ex.header('traceparent')),
  );
  const inside = trace.setSpan(ROOT_CONTEXT, span);
  for (const flag of record.flags) {
    span.addEvent('usage_panda.flag', {
      'usage_panda.flag.type': flag.type,
      'usage_panda.flag.description': flag.description,
    });
  }

  const sentAt = ex.upstreamSentAt === null ? null : at(ex.upstreamSentAt);
  tracer.startSpan('request phase', { startTime: start }, inside).end(sentAt ?? end);
  if (sentAt !== null) {
    // No answer headers (every attempt failed, or the client left): the upstream call lasted to the end.
    const headersAt = ex.upstreamHeadersMs === null ? null : sentAt + ex.upstreamHeadersMs;
    const upstream = tracer.startSpan('upstream', { startTime: sentAt }, inside);
    traceAttempts(tracer, record, trace.setSpan(ROOT_CONTEXT, upstream), sentAt, headersAt ?? end);
    if (headersAt === null) {
      upstream.end(end);
    } else {
      upstream.end(Math.max(headersAt, Math.min(end, sentAt + (record.upstreamLatencyMs ?? 0))));
      tracer.startSpan('response phase', { startTime: headersAt }, inside).end(end);
    }
  }

  if (record.status >= 400 || record.error) {
    span.setAttribute('error.type', String(record.status));
    span.setStatus({ code: SpanStatusCode.ERROR, message: record.error ?? undefined });
  }
  span.end(end);
}

/**
 * One CLIENT span per call to upstream. An attempt records its duration, not its start: the first
 * starts when the request was sent, and the waits between them (backoff) are shared out evenly
 * up to `lastEnd`, when the answer's headers came (or the request ended, when none came).
 */
function traceAttempts(tracer: Tracer, record: LogRecord, parent: Context, sentAt: number, lastEnd: number): void {
  const attempts = record.attempts;
  const busy = attempts.reduce((sum, attempt) => sum + attempt.latencyMs, 0);
  const gap = attempts.length > 1 ? Math.max(0, lastEnd - sentAt - busy) / (attempts.length - 1) : 0;
  let startTime = sentAt;
  attempts.forEach((attempt, index) => {
    const attributes: Attributes = { 'usage_panda.attempt': index + 1 };
    if (attempt.provider) attributes['gen_ai.provider.name'] = GEN_AI_PROVIDERS[attempt.provider] ?? attempt.provider;
    if (attempt.target !== undefined) attributes['usage_panda.target'] = attempt.target;
    if (attempt.status !== null) attributes['http.response.status_code'] = attempt.status;
    const span = tracer.startSpan(`attempt ${index + 1}`, { kind: SpanKind.CLIENT, startTime, attributes }, parent);
    if (attempt.error) span.setStatus({ code: SpanStatusCode.ERROR, message: attempt.error });
    span.end(startTime + attempt.latencyMs);
    startTime += attempt.latencyMs + gap;
  });
}

function requestAttributes(record: LogRecord, ex: Exchange, operation: string): Attributes {
  const provider = GEN_AI_PROVIDERS[record.provider] ?? record.provider;
  const attributes: Attributes = {
    'gen_ai.operation.name': operation,
    'gen_ai.provider.name': provider,
    'gen_ai.system': provider,
    'http.request.method': record.method,
    'http.response.status_code': record.status,
    'url.path': `/v1${record.endpoint}`,
    'usage_panda.request_id': record.id,
    'usage_panda.stream': record.stream,
    'usage_panda.moderated': record.moderated,
    'usage_panda.usage_estimated': record.usageEstimated,
  };
  const optional: Attributes = {
    'gen_ai.request.model': record.model ?? undefined,
    'gen_ai.response.model': ex.providerModel ?? (ex.upstreamSentAt === null ? undefined : (record.model ?? undefined)),
    'gen_ai.response.id': record.upstreamId ?? undefined,
    'gen_ai.usage.input_tokens': record.promptTokens ?? undefined,
    'gen_ai.usage.output_tokens': record.completionTokens ?? undefined,
    'usage_panda.connection.id': record.connectionId ?? undefined,
    'usage_panda.connection.name': record.connectionName ?? undefined,
    'usage_panda.cost_usd': record.costUsd ?? undefined,
    'usage_panda.end_user': record.endUser ?? undefined,
    'usage_panda.trace_id': record.traceId ?? undefined,
    'usage_panda.upstream_latency_ms': record.upstreamLatencyMs ?? undefined,
    'usage_panda.flags': record.flags.length > 0 ? record.flags.map((flag) => flag.type) : undefined,
  };
  for (const [name, value] of Object.entries(optional)) if (value !== undefined) attributes[name] = value;
  return attributes;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The client's W3C `traceparent`, so the request's span joins the client's trace. */
function parentOf(traceparent: string | undefined): Context {
  const [, traceId, spanId, flags] = (traceparent && TRACEPARENT.exec(traceparent.trim())) || [];
  if (!traceId || !spanId || !flags || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: Number.parseInt(flags, 16),
    isRemote: true,
  });
}
