// The floor for any Node proxy hop: node:http in, undici out, bytes forwarded and
// nothing else (no auth, no parsing, no policies, no log). Run as its own process:
//   node --import tsx bench/bare-proxy.ts http://127.0.0.1:UPSTREAM_PORT
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';

const upstream = process.argv[2];
if (!upstream) {
  process.stderr.write('usage: bare-proxy.ts <upstream origin>\n');
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

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const answer = await agent.request({
        origin,
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: without(req.headers, HOP_BY_HOP) as Record<string, string>,
        body: chunks.length === 0 ? null : Buffer.concat(chunks),
      });
      res.writeHead(answer.statusCode, without(answer.headers, HOP_BY_HOP));
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
  server.close(() => void agent.close().then(() => process.exit(0)));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
