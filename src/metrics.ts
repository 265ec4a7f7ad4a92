// Prometheus metrics for /metrics: what the proxy did, how the log queue is keeping up,
// the open connections on both sides, and prom-client's process metrics.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LogRecord } from './domain.js';
import type { LogWriter } from './store/log-writer.js';

export interface GatewayMetrics {
  registry: Registry;
  observe(record: LogRecord): void;
  /** A request refused for its credentials before any connection was known. */
  refused(source: 'proxy' | 'admin', status: number): void;
  /** The state store (Redis) could not be reached for a request's limits; `allowed`: served anyway. */
  stateUnavailable(allowed: boolean): void;
  /** A request used more than it reserved (requests, tokens or usd). */
  spendOverrun(kind: string): void;
  /** The log writer stored a batch of `records` in `ms`. */
  storeWrite(records: number, ms: number): void;
}

/** Where the gauges read from; each is asked at scrape time. */
export interface MetricSources {
  logWriter(): LogWriter | undefined;
  /** Client connections open to the gateway's server. */
  clientConnections(): number;
  /** Sockets to upstreams: carrying a request, or kept alive for the next one. */
  upstreamSockets(): { inUse: number; idle: number };
  /** An edge's sync and shipping; absent on a gateway with its own store. */
  edge?(): EdgeMetricValues;
}

export interface EdgeMetricValues {
  /** Seconds since the control plane last answered a sync; null before the first time. */
  syncAgeSeconds: number | null;
  spooledRecords: number;
  spoolBytes: number;
  /** Records lost: past the spool's cap, or rejected by the control plane. */
  droppedRecords: number;
  shippedRecords: number;
}

export function createMetrics(sources: MetricSources): GatewayMetrics {
  const registry = new Registry();
  // CPU, memory, event loop lag, handles, GC: the usual `process_*` and `nodejs_*` series.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'usage_panda_client_connections',
    help: 'Client connections open to the gateway (requests in flight and idle keep-alive ones).',
    registers: [registry],
    collect() {
      this.set(sources.clientConnections());
    },
  });
  new Gauge({
    name: 'usage_panda_upstream_sockets',
    help: 'Sockets open to upstreams, by state: in_use (carrying a request) or idle (kept alive).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const { inUse, idle } = sources.upstreamSockets();
      this.set({ state: 'in_use' }, inUse);
      this.set({ state: 'idle' }, idle);
    },
  });
  const requests = new Counter({
    name: 'usage_panda_requests_total',
    help: 'Requests through the proxy, by connection, model, operation and status code.',
    labelNames: ['connection', 'model', 'operation', 'status'] as const,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'usage_panda_tokens_total',
    help: 'Tokens of the requests through the proxy, by connection, model and type (input, output; cached and reasoning are parts of them).',
    labelNames: ['connection', 'model', 'type'] as const,
    registers: [registry],
  });
  const cost = new Counter({
    name: 'usage_panda_cost_usd_total',
    help: 'What the requests through the proxy cost in USD, by connection and model (unpriced ones count 0).',
    labelNames: ['connection', 'model'] as const,
    registers: [registry],
  });
  const overhead = new Histogram({
    name: 'usage_panda_overhead_duration_seconds',
    help: 'Time a request spent in the gateway itself: its latency less the upstream call (all of it when upstream was not called).',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const storeWrites = new Histogram({
    name: 'usage_panda_store_write_duration_seconds',
    help: 'Time to write one batch of log records to the store.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const storeWrittenRecords = new Counter({
    name: 'usage_panda_store_written_records_total',
    help: 'Log records written to the store, counted as their batches complete.',
    registers: [registry],
  });
  const models = new ModelLabels();
  const latency = new Histogram({
    name: 'usage_panda_request_duration_seconds',
    help: 'Total request latency through the proxy.',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const flags = new Counter({
    name: 'usage_panda_flags_total',
    help: 'Flags raised by policies, by type.',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const unpriced = new Counter({
    name: 'usage_panda_unpriced_requests_total',
    help: 'Requests whose model has no known price (cost recorded as null); add it to the prices table.',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'usage_panda_refused_requests_total',
    help: 'Requests refused for their credentials before any connection was known (counted per IP and minute in /api/refusals, not logged), by source and status.',
    labelNames: ['source', 'status'] as const,
    registers: [registry],
  });
  const unavailable = new Counter({
    name: 'usage_panda_state_unavailable_total',
    help: 'Requests under limits or budgets that found the state store (Redis) unreachable, by outcome (denied / allowed).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const overruns = new Counter({
    name: 'usage_panda_spend_overruns_total',
    help: 'Requests that used more than they reserved (an upstream that did not honour the output cap), by unit.',
    labelNames: ['unit'] as const,
    registers: [registry],
  });
  const queueStat = (name: string, help: string, pick: (stats: LogWriter['stats']) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const writer = sources.logWriter();
        if (writer) this.set(pick(writer.stats));
      },
    });
  queueStat('usage_panda_log_queue_size', 'Log records waiting to be written.', (s) => s.queued);
  queueStat('usage_panda_log_records_written', 'Log records written to the store.', (s) => s.written);
  queueStat('usage_panda_log_records_dropped', 'Log records dropped because the queue was full.', (s) => s.dropped);
  queueStat('usage_panda_log_records_failed', 'Log records the store failed to write.', (s) => s.failed);

  const { edge } = sources;
  if (edge) {
    const edgeStat = (name: string, help: string, pick: (values: EdgeMetricValues) => number | null) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const value = pick(edge());
          if (value !== null) this.set(value);
        },
      });
    edgeStat(
      'usage_panda_edge_sync_age_seconds',
      'Seconds since the control plane last answered a sync (the snapshot served is at most this old).',
      (v) => v.syncAgeSeconds,
    );
    edgeStat(
      'usage_panda_edge_spool_records',
      'Records spooled on disk for the control plane.',
      (v) => v.spooledRecords,
    );
    edgeStat('usage_panda_edge_spool_bytes', 'Bytes of the on-disk spool.', (v) => v.spoolBytes);
    edgeStat(
      'usage_panda_edge_records_dropped',
      'Records lost: past the spool cap, or rejected by the control plane.',
      (v) => v.droppedRecords,
    );
    edgeStat('usage_panda_edge_records_shipped', 'Records the control plane accepted.', (v) => v.shippedRecords);
  }

  return {
    registry,
    observe(record) {
      const connection = record.connectionName ?? record.connectionId ?? '';
      const model = models.label(record.model);
      requests.inc({ connection, model, operation: record.operation, status: String(record.status) });
      const counts = {
        input: record.promptTokens,
        output: record.completionTokens,
        cached: record.cachedTokens,
        reasoning: record.reasoningTokens,
      };
      for (const [type, count] of Object.entries(counts)) if (count) tokens.inc({ connection, model, type }, count);
      cost.inc({ connection, model }, record.costUsd ?? 0);
      latency.observe({ operation: record.operation }, record.latencyMs / 1000);
      const gatewayMs = record.latencyMs - (record.upstreamLatencyMs ?? 0);
      overhead.observe({ operation: record.operation }, Math.max(0, gatewayMs) / 1000);
      for (const flag of record.flags) flags.inc({ type: flag.type });
      if (record.costUsd === null) unpriced.inc({ operation: record.operation });
    },
    refused(source, status) {
      refusals.inc({ source, status: String(status) });
    },
    stateUnavailable(allowed) {
      unavailable.inc({ outcome: allowed ? 'allowed' : 'denied' });
    },
    spendOverrun(kind) {
      overruns.inc({ unit: kind });
    },
    storeWrite(records, ms) {
      storeWrites.observe(ms / 1000);
      storeWrittenRecords.inc(records);
    },
  };
}

/** At most this many model names become label values; the rest are counted as `other`. */
export const MAX_MODEL_LABELS = 200;

/**
 * The model label of a record. The model is whatever the client sent, so a client sending
 * made-up names must not grow the series without bound.
 */
class ModelLabels {
  private readonly seen = new Set<string>();

  label(model: string | null): string {
    if (model === null) return '';
    if (this.seen.has(model)) return model;
    if (this.seen.size >= MAX_MODEL_LABELS) return 'other';
    this.seen.add(model);
    return model;
  }
}
