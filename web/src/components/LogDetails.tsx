// Every field of one log record, its flags explained, and the bodies when they were logged.
import { useQuery } from '@tanstack/react-query';
import { type LogRecord, logs } from '../api';
import { DASH, formatCount, formatDuration, formatMoney, formatTime } from '../format';
import { explainFlag, FlagIcon } from './Flags';
import { Modal } from './Modal';
import { ErrorState, Loading } from './States';

const FIELDS: { label: string; value(r: LogRecord): string }[] = [
  { label: 'Request ID', value: (r) => r.id },
  { label: 'Timestamp', value: (r) => formatTime(r.ts) },
  {
    label: 'Connection',
    value: (r) => (r.connectionName ? `${r.connectionName} (${r.connectionId})` : (r.connectionId ?? DASH)),
  },
  { label: 'Served by', value: (r) => (r.edge ? `edge ${r.edge}` : 'this gateway') },
  { label: 'Endpoint', value: (r) => `${r.method} ${r.endpoint}` },
  { label: 'Operation', value: (r) => r.operation },
  { label: 'Model', value: (r) => r.model ?? DASH },
  { label: 'Stream', value: (r) => (r.stream ? 'yes' : 'no') },
  { label: 'Status', value: (r) => String(r.status) },
  { label: 'Error', value: (r) => r.error ?? DASH },
  { label: 'Latency', value: (r) => formatDuration(r.latencyMs) },
  { label: 'Upstream latency', value: (r) => formatDuration(r.upstreamLatencyMs) },
  { label: 'Prompt tokens', value: (r) => formatCount(r.promptTokens) },
  { label: 'Completion tokens', value: (r) => formatCount(r.completionTokens) },
  { label: 'Total tokens', value: (r) => formatCount(r.totalTokens) },
  { label: 'Cost', value: (r) => formatMoney(r.costUsd) },
  { label: 'OpenAI ID', value: (r) => r.upstreamId ?? DASH },
  { label: 'Organization', value: (r) => r.organization ?? DASH },
  { label: 'IP address', value: (r) => r.ip ?? DASH },
  { label: 'User agent', value: (r) => r.userAgent ?? DASH },
  { label: 'User', value: (r) => r.endUser ?? DASH },
  { label: 'Trace ID', value: (r) => r.traceId ?? DASH },
  { label: 'Moderated', value: (r) => (r.moderated ? 'yes' : 'no') },
  { label: 'Provider', value: (r) => r.provider },
];

export function LogDetails({ id, onClose }: { id: string; onClose(): void }) {
  const record = useQuery({ queryKey: ['log', id], queryFn: () => logs.get(id) });
  return (
    <Modal title="Request details" onClose={onClose} wide>
      {record.isPending ? (
        <Loading what="the record" />
      ) : record.isError ? (
        <ErrorState error={record.error} what="This record" />
      ) : (
        <>
          <dl className="details">
            {FIELDS.map((f) => (
              <div key={f.label}>
                <dt>{f.label}</dt>
                <dd>{f.value(record.data)}</dd>
              </div>
            ))}
          </dl>
          <h3>Flags</h3>
          {record.data.flags.length === 0 ? (
            <p className="muted">No flags.</p>
          ) : (
            <ul className="flag-list">
              {record.data.flags.map((flag) => (
                <li key={`${flag.type}|${flag.description}`}>
                  <FlagIcon flag={flag} /> <strong>{explainFlag(flag)}</strong>
                  <br />
                  <code>{flag.type}</code>: {flag.description}
                </li>
              ))}
            </ul>
          )}
          <h3>Request body</h3>
          {record.data.requestBody ? (
            <pre className="code">{pretty(record.data.requestBody)}</pre>
          ) : (
            <p className="muted">Not logged (turn on "Log request bodies" in the connection's settings).</p>
          )}
          <h3>Response body</h3>
          {record.data.responseBody ? (
            <pre className="code">{pretty(record.data.responseBody)}</pre>
          ) : (
            <p className="muted">Not logged (turn on "Log response bodies" in the connection's settings).</p>
          )}
        </>
      )}
    </Modal>
  );
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
