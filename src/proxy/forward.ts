// Sends a request to the connection's upstream through one keep-alive undici Agent, and
// decides which headers cross the gateway in each direction.
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import type { Config } from '../config/config.js';
import { GatewayError, upstreamTimeout, upstreamUnreachable } from '../errors.js';

/** Headers that describe one hop, not the message, plus those the gateway sets itself. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The gateway answers `Expect: 100-continue` itself (node:http does); undici refuses to send it.
  'expect',
  'host',
  'content-length',
  // Asked for identity so answers can be read for usage; the gateway compresses nothing itself.
  'accept-encoding',
  'authorization',
  // The client's cookies are for this gateway (the dashboard session among them), never for upstream.
  'cookie',
]);

const NOT_RETURNED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  // Upstream's cookies would be set on the gateway's origin, where the dashboard lives.
  'set-cookie',
]);

export function createUpstreamAgent(config: Config): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connect: { timeout: config.upstreamConnectTimeoutMs },
    headersTimeout: config.upstreamFirstByteTimeoutMs,
    bodyTimeout: config.upstreamIdleTimeoutMs,
  });
}

interface UpstreamBase {
  origin: string;
  /** The base URL's path without its trailing slash, e.g. `/v1`. */
  path: string;
}

const bases = new Map<string, UpstreamBase>();

function parseBase(base: string): UpstreamBase {
  let parsed = bases.get(base);
  if (!parsed) {
    const url = new URL(base);
    parsed = { origin: url.origin, path: url.pathname.replace(/\/+$/, '') };
    bases.set(base, parsed);
  }
  return parsed;
}

/** The client's headers minus hop-by-hop and `x-usagepanda-*`, with the provider key. */
export function upstreamHeaders(incoming: IncomingHttpHeaders, providerKey: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in incoming) {
    if (NOT_FORWARDED.has(name) || name.startsWith('x-usagepanda-')) continue;
    const value = incoming[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  headers.authorization = `Bearer ${providerKey}`;
  return headers;
}

/**
 * Upstream's answer headers minus hop-by-hop, ready to send on. CORS is the gateway's own
 * (set on the response before the proxy runs, see browser-access.ts): upstream's is dropped.
 */
export function clientHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (!NOT_RETURNED.has(name) && !name.startsWith('access-control-')) headers[name] = upstream[name];
  }
  return headers;
}

export interface UpstreamCall {
  base: string;
  method: string;
  /** Below the base's version path, e.g. `/chat/completions?x=1`. */
  path: string;
  headers: Record<string, string>;
  body: Buffer | string | null;
  /** Aborts the call; undici takes an AbortSignal or an EventEmitter that emits 'abort'. */
  signal?: AbortSignal | EventEmitter;
}

export async function sendUpstream(agent: Agent, call: UpstreamCall): Promise<Dispatcher.ResponseData> {
  const base = parseBase(call.base);
  try {
    return await agent.request({
      origin: base.origin,
      path: base.path + call.path,
      method: call.method as Dispatcher.HttpMethod,
      headers: call.headers,
      body: call.body,
      signal: call.signal,
    });
  } catch (err) {
    throw upstreamFailure(err);
  }
}

/** undici's timeouts, each said as the gateway setting that bounds it (README: "Timeouts"). */
const TIMEOUTS: Readonly<Record<string, string>> = {
  UND_ERR_CONNECT_TIMEOUT: 'no connection within the connect timeout (upstreamConnectTimeoutMs)',
  UND_ERR_HEADERS_TIMEOUT: 'no answer within the first-byte timeout (upstreamFirstByteTimeoutMs)',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled longer than the idle timeout (upstreamIdleTimeoutMs)',
};

/** Maps a network failure to 502/504; an abort (the client left) is passed through as it is. */
export function upstreamFailure(err: unknown): unknown {
  if (err instanceof GatewayError) return err;
  const error = err as NodeJS.ErrnoException;
  if (error?.name === 'AbortError' || error?.code === 'UND_ERR_ABORTED') return err;
  const code = error?.code ?? error?.name ?? 'error';
  const timeout = TIMEOUTS[code];
  if (timeout) return upstreamTimeout(timeout);
  const cause = (error as { cause?: NodeJS.ErrnoException })?.cause;
  return upstreamUnreachable(cause?.code ?? code);
}
