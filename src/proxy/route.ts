// The /v1 proxy, one request top to bottom: authenticate → resolve policy → request
// phase → forward → response phase → record.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Agent, Dispatcher } from 'undici';
import type { PriceBook } from '../accounting/prices.js';
import { errorMessageFrom, usageOfAnswer } from '../accounting/usage.js';
import { autoReplyAnswer, autoReplyFlag } from '../autoreplies/answer.js';
import type { AutoReplyDirectory } from '../autoreplies/directory.js';
import type { ConnectionDirectory } from '../connections/directory.js';
import type { Connection, LogRecord } from '../domain.js';
import {
  connectionDisabled,
  GatewayError,
  internalError,
  invalidKey,
  missingProviderKey,
  policyBlocked,
} from '../errors.js';
import { Exchange, type GatewayAnswer } from '../exchange.js';
import { answerFilters, resolveSettings, runRequestPhase } from '../policies/pipeline.js';
import type { AnswerFilter, PolicyContext } from '../policies/policy.js';
import type { PolicySettings } from '../policy-settings.js';
import { filterAnswerTexts } from '../providers/openai/answer.js';
import type { SpendControl, SpendHold } from '../spend/control.js';
import { loggedRequestBody, loggedResponseBody, StreamBodyLog } from './bodies.js';
import { ClientAbort } from './client-abort.js';
import { CORS_HEADERS, clientHeaders, sendUpstream, upstreamHeaders } from './forward.js';
import { multipartBoundary, rewriteMultipartFields } from './multipart.js';
import { toLogRecord } from './record.js';
import { parseBody, readBody, readTraceId } from './request.js';
import { sendWithRetries } from './retry.js';
import {
  relayStream,
  requestStreamUsage,
  StreamInspector,
  type StreamOptionsRefusals,
  withdrawStreamUsage,
} from './stream.js';
import { StreamAnswerFilter } from './stream-answer.js';

export interface ProxyDeps {
  connections: ConnectionDirectory;
  autoReplies: AutoReplyDirectory;
  agent: Agent;
  /** The default upstream base URL, for connections without their own. */
  upstream: string;
  /** Provider key used when neither the client nor the connection has one. */
  fallbackProviderKey: string | null;
  /** Key used when a request carries none (USAGE_PANDA_API_KEY). */
  defaultApiKey: string | null;
  /** Standalone mode: the policy of requests that carry no key at all; null means a key is required. */
  standalonePolicy: PolicySettings | null;
  maxBodyBytes: number;
  record(record: LogRecord): void;
  /** Prices every record: the price data plus the config file's overrides. */
  prices: PriceBook;
  /** Upstreams not to ask for stream usage for now. */
  streamOptionsRefusals: StreamOptionsRefusals;
  /** Limits and budgets: reserved before forwarding, settled from the record. */
  spend: SpendControl;
  logger: FastifyBaseLogger;
}

export type ProxyHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The proxy on node:http's request and response, as the server hands them over. */
export function proxyHandler(deps: ProxyDeps): ProxyHandler {
  return (req, res) => {
    // handle answers every error itself; this is the net under that.
    handle(deps, req, res).catch((err: unknown) => {
      deps.logger.error({ err }, 'unexpected error in the proxy');
      if (res.headersSent) res.end();
      else res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(internalError().toBody()));
    });
  };
}

/** True for `/v1` and the paths below it: the server gives these to the proxy without routing. */
export function isVersionPath(url: string | undefined): boolean {
  return url?.startsWith('/v1') === true && (url.length === 3 || url[3] === '/' || url[3] === '?');
}

/**
 * The proxy's place in the Fastify app: any path no other route has. (A path without the
 * version prefix is treated as if it had it; `/v1` paths never reach Fastify, see server.ts.)
 */
export async function proxyRoutes(app: FastifyInstance, handler: ProxyHandler): Promise<void> {
  // The proxy reads bodies itself (bounded, raw bytes kept for forwarding).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  app.all('/*', (request, reply) => {
    reply.hijack();
    handler(request.raw, reply.raw);
  });
}

/** nginx's status for a request the client abandoned; recorded, never sent. */
const CLIENT_CLOSED = 499;

async function handle(deps: ProxyDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ex = startExchange(req);
  const abort = new ClientAbort();
  let hold: SpendHold | null = null;
  res.once('close', () => {
    if (!res.writableFinished) {
      // The client left before the answer was complete: stop upstream too.
      abort.abort();
      ex.error ??= 'client disconnected';
      if (ex.status === 0) ex.status = CLIENT_CLOSED;
    }
    const record = toLogRecord(ex, 'openai', deps.prices);
    if (hold) deps.spend.settle(hold, record);
    deps.record(record);
  });

  try {
    if (ex.method === 'OPTIONS') return answerPreflight(ex, res);
    const { connection, policy, providerKey: clientProviderKey } = await authenticate(deps, ex);
    ex.traceId = readTraceId(ex);
    await parseBody(ex, req.headers['content-type'], await readBody(req, deps.maxBodyBytes));
    const settings = resolveSettings(ex, policy);

    const base = connection?.upstream ?? deps.upstream;
    const providerKey = () => {
      const stored = connection ? deps.connections.providerKey(connection) : null;
      const key = clientProviderKey ?? stored ?? deps.fallbackProviderKey;
      if (!key) throw missingProviderKey();
      return key;
    };
    await runRequestPhase(ex, settings, policyContext(deps, ex, base, providerKey, abort));
    const autoReply = await deps.autoReplies.match(ex);
    if (autoReply) {
      // Answered by the gateway itself: no upstream call, nothing to pay.
      ex.flag(autoReplyFlag(autoReply.type), { block: false });
      ex.answer = autoReplyAnswer(ex, autoReply);
      ex.usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    }
    if (ex.answer) return sendGatewayAnswer(ex, res, ex.answer, settings);
    hold = await deps.spend.reserve(ex, settings, abort);

    if (!deps.streamOptionsRefusals.has(base)) requestStreamUsage(ex);
    const body = forwardedBody(ex);
    if (settings.logRequestBody) ex.requestBodyText = loggedRequestBody(ex, body);
    const sentAt = performance.now();
    const call = {
      base,
      method: ex.method,
      path: ex.path + ex.query,
      headers: upstreamHeaders(ex.headers, providerKey()),
      body,
      signal: abort,
    };
    let upstream = await sendWithRetries(deps.agent, call, settings.retryCount, ex, abort);
    if (upstream.statusCode === 400 && ex.streamUsageInjected) {
      // Perhaps a compatible server that refuses `stream_options`: ask once more exactly as
      // the client did (the tokenizer counts the answer). Had the client's own request been
      // at fault, this gets the same 400 back, now about what the client really sent.
      await upstream.body.dump();
      withdrawStreamUsage(ex);
      upstream = await sendWithRetries(
        deps.agent,
        { ...call, body: forwardedBody(ex) },
        settings.retryCount,
        ex,
        abort,
      );
      if (upstream.statusCode < 400) deps.streamOptionsRefusals.add(base);
    }
    ex.upstreamHeadersMs = performance.now() - sentAt;
    await relayAnswer(ex, upstream, res, settings, abort, sentAt);
  } catch (err) {
    sendError(deps.logger, ex, res, err);
  }
}

function startExchange(req: IncomingMessage): Exchange {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (path === '/v1' || path.startsWith('/v1/')) path = path.slice(3) || '/';
  return new Exchange(
    req.method ?? 'GET',
    path,
    q === -1 ? '' : url.slice(q),
    req.headers,
    req.socket.remoteAddress ?? null,
  );
}

function bearer(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(value);
  return match?.[1]?.trim();
}

interface Caller {
  /** Null for a keyless request to a standalone gateway. */
  connection: Connection | null;
  policy: PolicySettings;
  /** The provider key the client sent, if any. */
  providerKey?: string;
}

/**
 * The Usage Panda key picks the connection; any other bearer token is the provider key.
 * A standalone gateway lets a request without any key through under its default policy.
 */
async function authenticate(deps: ProxyDeps, ex: Exchange): Promise<Caller> {
  const token = bearer(ex.header('authorization'));
  const tokenIsOurs = token?.startsWith('up-') ?? false;
  const providerKey = tokenIsOurs ? undefined : token;
  const key = ex.header('x-usagepanda-api-key') ?? (tokenIsOurs ? token : undefined) ?? deps.defaultApiKey;
  if (!key) {
    if (!deps.standalonePolicy) throw invalidKey();
    ex.standalone = true;
    return { connection: null, policy: deps.standalonePolicy, providerKey };
  }
  const connection = await deps.connections.findByKey(key);
  if (!connection) throw invalidKey();
  ex.connection = connection;
  if (!connection.enabled) throw connectionDisabled();
  return { connection, policy: connection.policy, providerKey };
}

function policyContext(
  deps: ProxyDeps,
  ex: Exchange,
  base: string,
  providerKey: () => string,
  signal: ClientAbort,
): PolicyContext {
  return {
    async callUpstream(path, body) {
      const headers = upstreamHeaders(ex.headers, providerKey());
      headers['content-type'] = 'application/json';
      const answer = await sendUpstream(deps.agent, {
        base,
        method: 'POST',
        path,
        headers,
        body: JSON.stringify(body),
        signal,
      });
      return { status: answer.statusCode, json: await answer.body.json() };
    },
  };
}

function forwardedBody(ex: Exchange): Buffer | string | null {
  if (ex.body.kind === 'none') return null;
  if (ex.body.kind === 'json' && ex.bodyRewritten) return JSON.stringify(ex.body.json);
  if (ex.body.kind === 'multipart' && ex.rewrittenFields.size > 0) {
    const boundary = multipartBoundary(ex.header('content-type') ?? '');
    if (boundary) return rewriteMultipartFields(ex.body.raw, boundary, ex.body.fields, ex.rewrittenFields);
  }
  return ex.body.raw;
}

async function relayAnswer(
  ex: Exchange,
  upstream: Dispatcher.ResponseData,
  res: ServerResponse,
  settings: PolicySettings,
  signal: ClientAbort,
  sentAt: number,
): Promise<void> {
  const requestId = upstream.headers['x-request-id'];
  if (typeof requestId === 'string') ex.upstreamId = requestId;
  const contentType = String(upstream.headers['content-type'] ?? '');
  const headers = clientHeaders(upstream.headers);

  if (contentType.includes('application/json')) {
    const text = await upstream.body.text();
    ex.upstreamLatencyMs = performance.now() - sentAt;
    const answer = parseJsonObject(text);
    if (settings.logResponseBody) ex.responseBodyText = loggedResponseBody(ex, text, answer);
    if (!answer) return sendRaw(ex, res, upstream.statusCode, headers, text);
    ex.usage = await usageOfAnswer(ex, answer, upstream.statusCode);
    if (upstream.statusCode >= 400) {
      ex.error = errorMessageFrom(answer) ?? `upstream answered ${upstream.statusCode}`;
      return sendRaw(ex, res, upstream.statusCode, headers, text);
    }
    const changed = filterAnswerTexts(ex.endpoint, answer, () => answerFilters(ex, settings));
    if (ex.blocked) throw policyBlocked(ex.blocking);
    const sent = changed ? JSON.stringify(answer) : text;
    if (settings.logResponseBody && changed) ex.responseBodyText = loggedResponseBody(ex, sent, answer);
    return sendRaw(ex, res, upstream.statusCode, headers, sent);
  }

  if (upstream.statusCode >= 400) ex.error = `upstream answered ${upstream.statusCode}`;
  writeHead(ex, res, upstream.statusCode, headers);
  const isEventStream = contentType.includes('text/event-stream');
  const inspector = isEventStream
    ? new StreamInspector(ex, upstream.statusCode < 400 ? streamAnswerFilter(ex, settings) : null)
    : null;
  const log = settings.logResponseBody ? new StreamBodyLog() : null;
  await relayStream(ex, upstream.body, res, signal, inspector, log);
  if (log) ex.responseBodyText = log.toString();
  ex.upstreamLatencyMs = performance.now() - sentAt;
}

/** The answer filters for a streamed answer, or null when no policy looks at the answer. */
function streamAnswerFilter(ex: Exchange, settings: PolicySettings): StreamAnswerFilter | null {
  // The chain made to find out is unused yet: it serves the first text instead of being thrown away.
  let unused: AnswerFilter[] | null = answerFilters(ex, settings);
  if (unused.length === 0) return null;
  const observesOnly = unused.every((filter) => filter.observesOnly === true);
  return new StreamAnswerFilter(
    ex.endpoint,
    () => {
      const filters = unused ?? answerFilters(ex, settings);
      unused = null;
      return filters;
    },
    observesOnly,
  );
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Status and headers, with the gateway's own: the record id and the time spent in the gateway. */
function writeHead(ex: Exchange, res: ServerResponse, status: number, headers: OutgoingHttpHeaders): void {
  ex.status = status;
  const upstreamMs = ex.upstreamLatencyMs ?? ex.upstreamHeadersMs ?? 0;
  Object.assign(headers, ex.responseHeaders);
  headers['x-usagepanda-request-id'] = ex.id;
  headers['x-usagepanda-overhead-ms'] = Math.max(0, ex.elapsedMs() - upstreamMs).toFixed(3);
  res.writeHead(status, headers);
}

function sendRaw(ex: Exchange, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string): void {
  headers['content-length'] = Buffer.byteLength(body);
  writeHead(ex, res, status, headers);
  res.end(body);
}

function sendJson(
  ex: Exchange,
  res: ServerResponse,
  status: number,
  json: unknown,
  extra: Record<string, string>,
): void {
  sendRaw(ex, res, status, { ...CORS_HEADERS, ...extra, 'content-type': 'application/json' }, JSON.stringify(json));
}

function sendGatewayAnswer(ex: Exchange, res: ServerResponse, answer: GatewayAnswer, settings: PolicySettings): void {
  if ('json' in answer) {
    if (settings.logResponseBody) ex.responseBodyText = JSON.stringify(answer.json);
    sendJson(ex, res, answer.status, answer.json, {});
    return;
  }
  if (settings.logResponseBody) ex.responseBodyText = answer.sse;
  sendRaw(ex, res, answer.status, { ...CORS_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' }, answer.sse);
}

function answerPreflight(ex: Exchange, res: ServerResponse): void {
  writeHead(ex, res, 204, { ...CORS_HEADERS, 'access-control-max-age': '86400' });
  res.end();
}

function sendError(logger: FastifyBaseLogger, ex: Exchange, res: ServerResponse, err: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  if ((err as Error)?.name === 'AbortError') {
    ex.error ??= 'client disconnected';
    return;
  }
  let error: GatewayError;
  if (err instanceof GatewayError) {
    error = err;
  } else {
    logger.error({ err, requestId: ex.id }, 'unexpected error in the proxy');
    error = internalError();
  }
  ex.error = error.message;
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(ex, res, error.status, error.toBody(), error.headers);
}
