// The /v1 proxy, one request top to bottom: authenticate → resolve policy → request
// phase → forward → response phase → record.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Agent } from 'undici';
import type { PriceBook } from '../accounting/prices.js';
import { errorMessageFrom, usageOfAnswer } from '../accounting/usage.js';
import { autoReplyAnswer, autoReplyFlag } from '../autoreplies/answer.js';
import type { AutoReplyDirectory } from '../autoreplies/directory.js';
import type { ConnectionDirectory } from '../connections/directory.js';
import type { Connection, LogRecord } from '../domain.js';
import {
  badRequest,
  connectionDisabled,
  cutByShutdown,
  GatewayError,
  internalError,
  invalidKey,
  missingProviderKey,
  policyBlocked,
  upstreamTotalTimeout,
} from '../errors.js';
import { Exchange, type GatewayAnswer } from '../exchange.js';
import { inspectBatchFile, inspectBatchInput, inspectMessageBatch } from '../policies/batch-file.js';
import { answerFilters, resolveSettings, runRequestPhase } from '../policies/pipeline.js';
import type { AnswerFilter, PolicyContext } from '../policies/policy.js';
import type { PolicySettings } from '../policy-settings.js';
import { readNativeTarget } from '../providers/native.js';
import { answerIdOf, filterAnswerTexts } from '../providers/view.js';
import type { SpendControl, SpendHold } from '../spend/control.js';
import { type Json, parseJsonObject } from '../wire/json.js';
import { readTarget } from '../wire/target.js';
import { loggedRequestBody, loggedResponseBody, StreamBodyLog } from './bodies.js';
import { ClientAbort } from './client-abort.js';
import { clientHeaders, sendUpstream, upstreamHeaders } from './forward.js';
import { multipartBoundary, rewriteMultipartFields } from './multipart.js';
import { toLogRecord } from './record.js';
import { parseBody, readBody, readNativeFields, readTraceId } from './request.js';
import {
  type Cooldowns,
  moderationBase,
  type ProviderKeys,
  planRoute,
  providerModelOf,
  type RoutingDeps,
  sendRouted,
  type UpstreamAnswer,
} from './routing.js';
import { relayStream, requestStreamUsage, StreamInspector, type StreamOptionsRefusals } from './stream.js';
import { StreamAnswerFilter } from './stream-answer.js';
import { readJsonAnswer } from './upstream-body.js';

/** What the proxy asks of connections: the store's directory on a gateway, the synced snapshot on an edge. */
export type ProxyConnections = Pick<ConnectionDirectory, 'findByKey' | 'providerKey' | 'open'>;
/** What the proxy asks of auto-replies. */
export type ProxyAutoReplies = Pick<AutoReplyDirectory, 'match'>;

export interface ProxyDeps {
  connections: ProxyConnections;
  autoReplies: ProxyAutoReplies;
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
  /** Upstream's JSON answers are read whole: a longer one is a 502. */
  maxJsonAnswerBytes: number;
  /** Every upstream attempt together, to the answer's last byte, unless the policy sets its own. */
  upstreamTotalTimeoutMs: number;
  /** The client's whole body must arrive within this. */
  clientBodyTimeoutMs: number;
  record(record: LogRecord, ex: Exchange): void;
  /** Prices every record: the price data plus the config file's overrides. */
  prices: PriceBook;
  /** Upstreams not to ask for stream usage for now. */
  streamOptionsRefusals: StreamOptionsRefusals;
  /** True once shutdown has cut the connections of the requests still in flight. */
  cutByShutdown(): boolean;
  /** Targets that keep failing, skipped for a while. */
  cooldowns: Cooldowns;
  /** The mock upstream's origin when it is on: providers without a baseUrl are sent there. */
  mockOrigin: string | null;
  /** Limits and budgets: reserved before forwarding, settled from the record. */
  spend: SpendControl;
  logger: FastifyBaseLogger;
}

export type ProxyHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The proxy on node:http's request and response, as the server hands them over. */
export function proxyHandler(deps: ProxyDeps): ProxyHandler {
  const routing = routingDeps(deps);
  return (req, res) => {
    // handle answers every error itself; this is the net under that.
    handle(deps, routing, req, res).catch((err: unknown) => {
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

async function handle(deps: ProxyDeps, routing: RoutingDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { ex, badTarget } = startExchange(req);
  const abort = new ClientAbort();
  let cancelDeadline: (() => void) | undefined;
  let hold: SpendHold | null = null;
  res.once('close', () => {
    if (!res.writableFinished) {
      // The client left, or shutdown cut the connection, before the answer was complete:
      // stop upstream too. A stream whose 200 head was sent did not succeed either.
      abort.abort();
      if (deps.cutByShutdown()) {
        const cut = cutByShutdown();
        ex.status = cut.status;
        ex.error = cut.message;
      } else {
        ex.error ??= 'client disconnected';
        ex.status = CLIENT_CLOSED;
      }
    }
    const record = toLogRecord(ex, ex.provider, deps.prices);
    if (hold) deps.spend.settle(hold, record);
    deps.record(record, ex);
  });

  try {
    if (badTarget) throw badTarget;
    if (ex.method === 'OPTIONS') return answerPreflight(ex, res);
    const { connection, policy, providerKey: clientProviderKey } = await authenticate(deps, ex);
    ex.traceId = readTraceId(ex);
    await parseBody(ex, req.headers['content-type'], await readBody(req, deps.maxBodyBytes, deps.clientBodyTimeoutMs));
    if (ex.native) readNativeFields(ex, ex.native);
    const settings = resolveSettings(ex, policy);

    const route = planRoute(routing, connection, ex);
    // Limits and budgets reserve at the first target's prices; the record has the answering one's.
    const first = route[0]?.upstream;
    if (first) {
      ex.provider = first.provider;
      ex.providerModel = providerModelOf(first, ex.model);
    }
    const base = moderationBase(route, deps.upstream);
    const keys: ProviderKeys = {
      client: clientProviderKey,
      connection: () => (connection ? deps.connections.providerKey(connection) : null),
      fallback: deps.fallbackProviderKey,
    };
    // The moderation call's key: the client's, else the connection's, else the gateway's.
    const providerKey = () => {
      const key = keys.client ?? keys.connection() ?? keys.fallback;
      if (!key) throw missingProviderKey();
      return key;
    };
    const ctx = policyContext(deps, ex, base, providerKey, abort);
    await runRequestPhase(ex, settings, ctx);
    await inspectBatchFile(ex, settings, ctx);
    await inspectBatchInput(ex, settings, ctx);
    await inspectMessageBatch(ex, settings, ctx);
    const autoReply = await deps.autoReplies.match(ex);
    if (autoReply) {
      // Answered by the gateway itself: no upstream call, nothing to pay.
      ex.flag(autoReplyFlag(autoReply.type), { block: false });
      ex.answer = autoReplyAnswer(ex, autoReply);
      ex.usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    }
    if (ex.answer) return sendGatewayAnswer(ex, res, ex.answer, settings);
    hold = await deps.spend.reserve(ex, settings, abort);

    if (!deps.streamOptionsRefusals.has(route[0]?.upstream.baseUrl ?? deps.upstream)) requestStreamUsage(ex);
    if (settings.logRequestBody) ex.requestBodyText = loggedRequestBody(ex, forwardedBody(ex));
    const sentAt = performance.now();
    ex.upstreamSentAt = sentAt;
    const totalMs = settings.upstreamTotalTimeoutMs || deps.upstreamTotalTimeoutMs;
    cancelDeadline = abort.failAfter(totalMs, () => upstreamTotalTimeout(totalMs));
    const upstream = await sendRouted(routing, ex, route, keys, () => forwardedBody(ex), settings.retryCount, abort);
    ex.providerModel = upstream.model;
    ex.upstreamHeadersMs = performance.now() - sentAt;
    await relayAnswer(ex, upstream, res, settings, abort, sentAt, deps.maxJsonAnswerBytes);
  } catch (err) {
    // A total timeout aborts whatever was under way: the timeout is the error, not the abort.
    sendError(deps.logger, ex, res, abort.failure ?? err);
  } finally {
    cancelDeadline?.();
  }
}

/** What routing needs of the proxy's dependencies. */
function routingDeps(deps: ProxyDeps): RoutingDeps {
  return {
    agent: deps.agent,
    upstream: deps.upstream,
    mockOrigin: deps.mockOrigin,
    cooldowns: deps.cooldowns,
    streamOptionsRefusals: deps.streamOptionsRefusals,
    open: (sealed) => deps.connections.open(sealed),
  };
}

/** The exchange of a request; a path that cannot be normalized is recorded as sent and answered 400. */
function startExchange(req: IncomingMessage): { ex: Exchange; badTarget: GatewayError | null } {
  const url = req.url ?? '/';
  const native = readNativeTarget(req.method ?? 'GET', url);
  if (native) {
    // The provider's own path and query, as they go to a target of that provider.
    const ex = new Exchange(
      req.method ?? 'GET',
      native.upstreamPath,
      native.upstreamQuery,
      req.headers,
      req.socket.remoteAddress ?? null,
      native.route.endpoint,
    );
    const { keyHeader } = native.route.api;
    native.route.key = ex.header(keyHeader) ?? native.queryKey;
    // A key never crosses to upstream in the client's header: each target gets its own.
    delete ex.headers[keyHeader];
    ex.native = native.route;
    return { ex, badTarget: native.error };
  }
  const target = readTarget(url);
  const q = url.indexOf('?');
  const path = target.ok ? target.path : q === -1 ? url : url.slice(0, q);
  const query = target.ok ? target.query : q === -1 ? '' : url.slice(q);
  const ex = new Exchange(req.method ?? 'GET', path, query, req.headers, req.socket.remoteAddress ?? null);
  return { ex, badTarget: target.ok ? null : badRequest(target.reason) };
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
  // A native route's SDK sends its key in its own header (or as the bearer token, as newer ones do).
  const sent = [bearer(ex.header('authorization')), ex.native?.key].filter((k) => k !== undefined);
  const ours = sent.find((k) => k.startsWith('up-'));
  const theirs = sent.find((k) => !k.startsWith('up-'));
  // Any other key is the provider's: the native provider's on a native route.
  if (ex.native) ex.native.providerKey = theirs;
  const providerKey = ex.native ? undefined : theirs;
  const key = ex.header('x-usagepanda-api-key') ?? ours ?? deps.defaultApiKey;
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
      const text = await readJsonAnswer(answer, deps.maxJsonAnswerBytes);
      return { status: answer.statusCode, json: JSON.parse(text) };
    },
    async readUpstream(path) {
      const headers = upstreamHeaders(ex.headers, providerKey());
      delete headers['content-type'];
      const answer = await sendUpstream(deps.agent, { base, method: 'GET', path, headers, body: null, signal });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of answer.body) {
        size += (chunk as Buffer).length;
        if (size > deps.maxBodyBytes) {
          answer.body.destroy();
          return { status: answer.statusCode, text: null };
        }
        chunks.push(chunk as Buffer);
      }
      return { status: answer.statusCode, text: Buffer.concat(chunks).toString('utf8') };
    },
  };
}

function forwardedBody(ex: Exchange): Buffer | string | null {
  if (ex.body.kind === 'none') return null;
  if (ex.body.kind === 'json' && ex.bodyRewritten) return JSON.stringify(ex.body.json);
  if (ex.body.kind === 'multipart' && (ex.rewrittenFields.size > 0 || ex.rewrittenFiles.size > 0)) {
    const boundary = multipartBoundary(ex.header('content-type') ?? '');
    if (boundary) {
      return rewriteMultipartFields(ex.body.raw, boundary, ex.body.fields, ex.rewrittenFields, {
        files: ex.body.files ?? {},
        changed: ex.rewrittenFiles,
      });
    }
  }
  return ex.body.raw;
}

async function relayAnswer(
  ex: Exchange,
  upstream: UpstreamAnswer,
  res: ServerResponse,
  settings: PolicySettings,
  signal: ClientAbort,
  sentAt: number,
  maxJsonAnswerBytes: number,
): Promise<void> {
  const requestId = upstream.headers[ex.native ? (ex.native.api.requestIdHeader ?? '') : 'x-request-id'];
  if (typeof requestId === 'string') ex.upstreamId = requestId;
  const contentType = String(upstream.headers['content-type'] ?? '');
  const headers = clientHeaders(upstream.headers);

  if (contentType.includes('application/json')) {
    const text = await readJsonAnswer(upstream, maxJsonAnswerBytes);
    ex.upstreamLatencyMs = performance.now() - sentAt;
    const answer = parseJsonObject(text);
    if (settings.logResponseBody) ex.responseBodyText = loggedResponseBody(ex, text, answer);
    if (!answer) return sendRaw(ex, res, upstream.statusCode, headers, text);
    ex.usage = await usageOfAnswer(ex, answer, upstream.statusCode);
    if (upstream.statusCode >= 400) {
      ex.error = errorMessageFrom(answer) ?? `upstream answered ${upstream.statusCode}`;
      return sendRaw(ex, res, upstream.statusCode, headers, text);
    }
    if (ex.native) ex.upstreamId ??= answerIdOf(answer);
    const changed = filterAnswerTexts(ex.endpoint, answer, () => answerFilters(ex, settings));
    if (ex.blocked) throw policyBlocked(ex.blocking);
    const sent = changed ? JSON.stringify(answer) : text;
    if (settings.logResponseBody && changed) ex.responseBodyText = loggedResponseBody(ex, sent, answer);
    return sendRaw(ex, res, upstream.statusCode, headers, sent);
  }

  if (upstream.statusCode >= 400) ex.error = `upstream answered ${upstream.statusCode}`;
  const isEventStream = contentType.includes('text/event-stream');
  writeHead(ex, res, upstream.statusCode, headers);
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
  sendRaw(ex, res, status, { ...extra, 'content-type': 'application/json' }, JSON.stringify(json));
}

function sendGatewayAnswer(ex: Exchange, res: ServerResponse, answer: GatewayAnswer, settings: PolicySettings): void {
  if ('json' in answer) {
    if (settings.logResponseBody) ex.responseBodyText = JSON.stringify(answer.json);
    const json = ex.native ? ex.native.api.answer(answer.json as Json) : answer.json;
    sendJson(ex, res, answer.status, json, {});
    return;
  }
  if (settings.logResponseBody) ex.responseBodyText = answer.sse;
  const stream = ex.native?.api.stream();
  const sse = stream ? stream.push(answer.sse) + stream.end() : answer.sse;
  sendRaw(ex, res, answer.status, { 'content-type': 'text/event-stream; charset=utf-8' }, sse);
}

function answerPreflight(ex: Exchange, res: ServerResponse): void {
  // The CORS headers themselves are already on the response (browser-access.ts).
  writeHead(ex, res, 204, { 'access-control-max-age': '86400' });
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
  const body = ex.native ? ex.native.api.error(error.status, error.message) : error.toBody();
  sendJson(ex, res, error.status, body, error.headers);
}
