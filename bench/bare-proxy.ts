// The floor for any Node proxy hop: node:http in, undici out, bytes forwarded and
// nothing else (no auth, no parsing, no policies, no log). Run as its own process:
//   node --import tsx bench/bare-proxy.ts http://127.0.0.1:UPSTREAM_PORT
//
// With `--record <data dir>` it is the floor of a recording gateway instead: the same hop
// plus what no gateway that records every request can skip — the request and the answer
// parsed as JSON, and one log record per request written through the gateway's own log
// writer and store (SQLite under the data dir, batched as the gateway batches). What the
// gateway costs above this row is its request handling (keys, policies, headers, pricing).
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher } from 'undici';
import { newRequestId } from '../src/exchange.js';
import { createLogWriter } from '../src/store/log-writer.js';
import { openStore } from '../src/store/sql-store.js';
import { logRecord } from '../test/fixtures.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { record: { type: 'string' } } });
const upstream = positionals[0];
if (!upstream) {
  process.stderr.write('usage: bare-proxy.ts <upstream origin> [--record <data dir>]\n');
  process.exit(2);
}
const origin = new URL(upstream).origin;

// The same keep-alive settings as the gateway's upstream agent, so the hop costs the same.
const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000 });

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

function without(headers: IncomingHttpHeaders, drop: Set<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!drop.has(name)) out[name] = headers[name];
  return out;
}

const store = values.record ? await openStore({ dataDir: values.record }) : null;
await store?.migrate();
const logWriter = store ? createLogWriter(store) : null;

/** The record of one request, from what the floor parsed anyway; the rest as a test's plausible record. */
function recordOf(request: Record<string, unknown>, answer: Record<string, unknown>, status: number, ts: number) {
  const usage = (answer.usage ?? {}) as Record<string, number | undefined>;
  const text = (name: string) => (typeof request[name] === 'string' ? (request[name] as string) : null);
  const latencyMs = Date.now() - ts;
  return logRecord({
    id: newRequestId(ts),
    ts,
    model: text('model'),
    status,
    latencyMs,
    promptTokens: usage.prompt_tokens ?? null,
    completionTokens: usage.completion_tokens ?? null,
    totalTokens: usage.total_tokens ?? null,
    upstreamId: typeof answer.id === 'string' ? answer.id : null,
    endUser: text('user'),
    attempts: [{ status, error: null, latencyMs }],
  });
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    const ts = Date.now();
    try {
      const body = chunks.length === 0 ? null : Buffer.concat(chunks);
      const request = logWriter && body ? JSON.parse(body.toString('utf8')) : null;
      const answer = await agent.request({
        origin,
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: without(req.headers, HOP_BY_HOP) as Record<string, string>,
        body,
      });
      res.writeHead(answer.statusCode, without(answer.headers, HOP_BY_HOP));
      if (logWriter) {
        const text = await answer.body.text();
        res.end(text);
        const json = String(answer.headers['content-type']).includes('json') ? JSON.parse(text) : {};
        logWriter.enqueue(recordOf(request ?? {}, json, answer.statusCode, ts));
        return;
      }
      for await (const chunk of answer.body) {
        if (!res.write(chunk)) await once(res, 'drain');
      }
      res.end();
    } catch {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    }
  });
});
server.keepAliveTimeout = 72_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`bare proxy listening on http://127.0.0.1:${port}\n`);
});
const stop = () => {
  server.close(async () => {
    await Promise.all([agent.close(), logWriter?.close().then(() => store?.close())]);
    process.exit(0);
  });
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
