// Picks the upstream(s) a request goes to and calls them: the connection's targets that
// serve the model, a weighted choice among them, the next one when a target cannot be
// reached, times out or answers 429/5xx before its first byte, and a cooldown for a target
// that keeps failing. Each call goes through its provider's adapter, and what comes back
// is OpenAI's format again, so the relay, the policies and the accounting need not know.
import { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { errorMessageFrom } from '../accounting/usage.js';
import type { Connection, ProviderName, ProviderUpstream, UpstreamTarget } from '../domain.js';
import { badRequest, GatewayError, missingProviderKey, upstreamAnswerUntranslatable } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { NativeRoute } from '../providers/native.js';
import type { ChatBridge, ProviderAdapter, ProviderCall, ProviderRequest } from '../providers/provider.js';
import { ADAPTERS } from '../providers/registry.js';
import { responsesBridge } from '../providers/responses/index.js';
import type { Endpoint } from '../wire/endpoints.js';
import { parseJsonObject } from '../wire/json.js';
import type { ClientAbort } from './client-abort.js';
import { upstreamHeaders } from './forward.js';
import { sendWithRetries } from './retry.js';
import type { StreamOptionsRefusals } from './stream.js';
import { withdrawStreamUsage } from './stream.js';

/** Defaults: 3 failures in a row cool a target down for 30 seconds. */
export const DEFAULT_COOLDOWN = { failures: 3, seconds: 30 } as const;

/** A target that failed `failures` times in a row is skipped for `seconds` (unless every target is cooling). */
export class Cooldowns {
  private readonly failures = new Map<string, number>();
  private readonly until = new Map<string, number>();

  constructor(private readonly settings: { failures: number; seconds: number } = DEFAULT_COOLDOWN) {}

  cooling(key: string, now = Date.now()): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(key);
    return false;
  }

  failed(key: string, now = Date.now()): void {
    const count = (this.failures.get(key) ?? 0) + 1;
    if (count >= this.settings.failures) {
      this.until.set(key, now + this.settings.seconds * 1000);
      this.failures.delete(key);
    } else {
      if (this.failures.size >= 10_000) this.failures.clear();
      this.failures.set(key, count);
    }
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }
}

/** One upstream a request may go to. */
export interface RouteTarget {
  upstream: UpstreamTarget;
  /** Its index in the connection's targets; undefined for a connection's single upstream. */
  index: number | undefined;
  /** Names it for the cooldown. */
  key: string;
  adapter: ProviderAdapter;
  /**
   * How the target takes this request: null when as the client sent it (its own API), else
   * the bridge that writes it as a chat completion and the answer back in the client's API.
   */
  bridge: ChatBridge | null;
}

/** Native endpoints a chat-completions target can answer, through their API's bridge. */
const BRIDGED = new Set<Endpoint>(['anthropic.messages', 'gemini.generate']);

/**
 * How `target` takes the request: as sent (null), through a bridge, or not at all
 * (undefined). `responses` makes the request's Responses bridge, once, when a target needs it.
 */
function bridgeFor(ex: Exchange, target: RouteTarget, responses: () => ChatBridge): ChatBridge | null | undefined {
  if (ex.native) {
    if (target.upstream.provider === ex.native.api.provider) return null;
    return BRIDGED.has(ex.endpoint) && target.adapter.serves('chat.completions') ? ex.native.api : undefined;
  }
  if (target.adapter.serves(ex.endpoint)) return null;
  // Responses to a provider that speaks only chat: the Agents SDK and Codex run on any provider.
  return ex.endpoint === 'responses' && target.adapter.serves('chat.completions') ? responses() : undefined;
}

export interface RoutingDeps {
  agent: Agent;
  /** The gateway's default upstream base URL (OpenAI-compatible). */
  upstream: string;
  /** The mock upstream's origin when it is on: providers without a baseUrl go there. */
  mockOrigin: string | null;
  cooldowns: Cooldowns;
  streamOptionsRefusals: StreamOptionsRefusals;
  /** Decrypts a stored secret. */
  open(sealed: string): string;
}

/** Whether a target serves a request model: every model, or one of its names, exact or `prefix*`. */
export function servesModel(target: UpstreamTarget, model: string | null): boolean {
  if (!target.models || model === null) return true;
  return target.models.some((name) => (name.endsWith('*') ? model.startsWith(name.slice(0, -1)) : name === model));
}

/** The model a target is asked for: the request's, renamed by the target's model map. */
export function providerModelOf(target: UpstreamTarget, model: string | null): string | null {
  return model === null ? null : (target.modelMap?.[model] ?? model);
}

/** The connection's upstreams in the order to try them for this request. */
export function planRoute(
  deps: RoutingDeps,
  connection: Connection | null,
  ex: Exchange,
  random = Math.random,
): RouteTarget[] {
  const azureResource = ex.header('x-usagepanda-azure-resource');
  let targets = listTargets(deps, connection);
  if (azureResource !== undefined) targets = azureTargets(targets, azureResource);
  const serving = targets.filter((t) => servesModel(t.upstream, ex.model));
  if (serving.length === 0) throw badRequest(`no target of this connection serves model ${ex.model}`);
  const now = Date.now();
  const warm = serving.filter((t) => !deps.cooldowns.cooling(t.key, now));
  // When every target is cooling down, trying one beats failing for sure.
  const order = weightedFirst(warm.length > 0 ? warm : serving, random);
  const first = order[0] as RouteTarget;
  let responses: ChatBridge | undefined;
  const responsesOnce = () => {
    responses ??= responsesBridge();
    return responses;
  };
  if (bridgeFor(ex, first, responsesOnce) === undefined) throw cannotServe(ex, first.upstream.provider);
  return order.flatMap((t) => {
    const bridge = bridgeFor(ex, t, responsesOnce);
    return bridge === undefined ? [] : [{ ...t, bridge }];
  });
}

/** Where the moderation check goes: the route's first OpenAI-compatible upstream, else the gateway's default. */
export function moderationBase(route: RouteTarget[], fallback: string): string {
  return route.find((t) => t.upstream.provider === 'openai')?.upstream.baseUrl ?? fallback;
}

const cannotServe = (ex: Exchange, provider: ProviderName) =>
  badRequest(
    ex.native
      ? `${ex.method} ${ex.clientPath} is not available on provider ${provider}: only ${ex.native.api.provider} targets serve it`
      : `the ${ex.endpoint} endpoint is not available on provider ${provider}`,
  );

function listTargets(deps: RoutingDeps, connection: Connection | null): RouteTarget[] {
  const make = (upstream: UpstreamTarget, index: number | undefined): RouteTarget => {
    const adapter = ADAPTERS[upstream.provider];
    if (!adapter) throw badRequest(`provider ${upstream.provider} is not supported yet`);
    const key = `${connection?.id ?? ''}#${index ?? ''}#${upstream.provider}#${upstream.baseUrl ?? ''}`;
    return { upstream, index, key, adapter, bridge: null };
  };
  if (connection && connection.targets.length > 0) return connection.targets.map((t, i) => make(t, i));
  const single = connection?.upstream ?? deps.upstream;
  return [make(typeof single === 'string' ? { provider: 'openai', baseUrl: single } : single, undefined)];
}

/** `x-usagepanda-azure-resource`: the request goes to that Azure resource, with the connection's Azure settings if any. */
function azureTargets(targets: RouteTarget[], resource: string): RouteTarget[] {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/i.test(resource)) {
    throw new GatewayError(
      'UP_ERR_BAD_HEADER',
      400,
      'invalid_request',
      'Usage Panda: invalid x-usagepanda-azure-resource header: use the resource name, letters, digits and "-"',
    );
  }
  const baseUrl = `https://${resource}.openai.azure.com`;
  const azure = targets.filter((t) => t.upstream.provider === 'azure');
  if (azure.length > 0) return azure.map((t) => ({ ...t, upstream: { ...t.upstream, baseUrl } }));
  return [
    {
      upstream: { provider: 'azure', baseUrl },
      index: undefined,
      key: `azure#${baseUrl}`,
      adapter: ADAPTERS.azure as ProviderAdapter,
      bridge: null,
    },
  ];
}

/** With weights, the first target is a weighted draw; the others follow in their order as fallbacks. */
function weightedFirst(targets: RouteTarget[], random: () => number): RouteTarget[] {
  if (targets.length < 2 || !targets.some((t) => t.upstream.weight !== undefined)) return targets;
  const total = targets.reduce((sum, t) => sum + (t.upstream.weight ?? 1), 0);
  let draw = random() * total;
  let chosen = targets.length - 1;
  for (let i = 0; i < targets.length; i++) {
    draw -= targets[i]?.upstream.weight ?? 1;
    if (draw < 0) {
      chosen = i;
      break;
    }
  }
  return [targets[chosen] as RouteTarget, ...targets.filter((_, i) => i !== chosen)];
}

/** The keys a request may use, best first, per provider. */
export interface ProviderKeys {
  /** The bearer token the client sent, when it is not a Usage Panda key. */
  client: string | undefined;
  /** The connection's stored provider key. */
  connection: () => string | null;
  /** OPENAI_API_KEY (or the mock upstream's), for OpenAI-compatible upstreams only. */
  fallback: string | null;
}

/** Per-request provider keys, as the original gateway took them. */
const KEY_HEADERS: Partial<Record<ProviderName, string[]>> = {
  anthropic: ['x-usagepanda-anthropic-api-key'],
  gemini: ['x-usagepanda-gemini-api-key', 'x-usagepanda-palm-api-key'],
};

function apiKeyFor(deps: RoutingDeps, ex: Exchange, target: UpstreamTarget, keys: ProviderKeys): string | null {
  // A native route's SDK sends its provider's key in that provider's header.
  if (ex.native?.providerKey && ex.native.api.provider === target.provider) return ex.native.providerKey;
  for (const name of KEY_HEADERS[target.provider] ?? []) {
    const value = ex.header(name);
    if (value) return value;
  }
  if (target.apiKeyEncrypted) return deps.open(target.apiKeyEncrypted);
  const key = keys.client ?? keys.connection() ?? (target.provider === 'openai' ? keys.fallback : null);
  return key ?? null;
}

/** The upstream's answer in OpenAI's format, as the relay reads it. */
export interface UpstreamAnswer {
  statusCode: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Readable & { text(): Promise<string>; dump(): Promise<void> };
  provider: ProviderName;
  /** The model the provider was asked for. */
  model: string | null;
}

/** Fallback-worthy: the target is down or overloaded, not the request at fault. */
const isFallbackStatus = (status: number) => status === 429 || status >= 500;
const isNetworkFailure = (err: unknown) =>
  err instanceof GatewayError && (err.code === 'UP_ERR_UPSTREAM_UNREACHABLE' || err.code === 'UP_ERR_UPSTREAM_TIMEOUT');

/** Calls the targets in order until one answers (or the last has failed). */
export async function sendRouted(
  deps: RoutingDeps,
  ex: Exchange,
  order: RouteTarget[],
  keys: ProviderKeys,
  forwardedBody: () => Buffer | string | null,
  retries: number,
  abort: ClientAbort,
): Promise<UpstreamAnswer> {
  for (let i = 0; ; i++) {
    const target = order[i] as RouteTarget;
    const last = i === order.length - 1;
    const before = ex.attempts.length;
    // The record names the provider that answered, or the last one tried.
    ex.provider = target.upstream.provider;
    const label = () => {
      for (const attempt of ex.attempts.slice(before)) {
        attempt.provider = target.upstream.provider;
        if (target.index !== undefined) attempt.target = target.index;
      }
    };
    let answer: UpstreamAnswer;
    try {
      answer = await sendTo(deps, ex, target, keys, forwardedBody, retries, abort);
    } catch (err) {
      label();
      if (!isNetworkFailure(err)) throw err;
      deps.cooldowns.failed(target.key);
      if (last) throw err;
      continue;
    }
    label();
    if (isFallbackStatus(answer.statusCode)) {
      deps.cooldowns.failed(target.key);
      if (!last) {
        await answer.body.dump();
        continue;
      }
    } else {
      deps.cooldowns.succeeded(target.key);
    }
    return answer;
  }
}

async function sendTo(
  deps: RoutingDeps,
  ex: Exchange,
  target: RouteTarget,
  keys: ProviderKeys,
  forwardedBody: () => Buffer | string | null,
  retries: number,
  abort: ClientAbort,
): Promise<UpstreamAnswer> {
  const { upstream, adapter, bridge } = target;
  const apiKey = apiKeyFor(deps, ex, upstream, keys);
  if (adapter.needsApiKey && !apiKey) throw missingProviderKey();
  const model = providerModelOf(upstream, ex.model);
  const send = (request: ProviderRequest, body = request.body) =>
    sendWithRetries(deps.agent, { ...request, body, signal: abort }, retries, ex, abort);
  if (ex.native && !bridge) {
    // The provider's own API on both sides: the client's request as it is.
    const response = await send(nativeRequest(ex, ex.native, upstream, adapter, deps, model, apiKey, forwardedBody));
    return { ...response, provider: adapter.name, model };
  }
  const call = bridge
    ? bridgedCall(providerCall(deps, ex, upstream, adapter, model, apiKey, forwardedBody), bridge, ex)
    : providerCall(deps, ex, upstream, adapter, model, apiKey, forwardedBody);
  const request = await adapter.request(call);
  let response = await send(request);
  if (adapter.name === 'openai' && response.statusCode === 400 && ex.streamUsageInjected && !bridge) {
    // Perhaps a compatible server that refuses `stream_options`: ask once more exactly as
    // the client did (the tokenizer counts the answer). Had the client's own request been
    // at fault, this gets the same 400 back, now about what the client really sent.
    await response.body.dump();
    withdrawStreamUsage(ex);
    response = await send(request, providerCall(deps, ex, upstream, adapter, model, apiKey, forwardedBody).rawBody);
    if (response.statusCode < 400) deps.streamOptionsRefusals.add(call.baseUrl);
  }
  const translate = adapter.translate;
  const answer = translate
    ? await translatedAnswer(response, translate, call, adapter.name, model)
    : { ...response, provider: adapter.name, model };
  return bridge ? bridgedAnswer(answer, bridge, ex.stream) : answer;
}

/**
 * A native request to a target of its own provider: method, path, query, body and the
 * headers the provider reads as the client sent them, with the target's key in the header
 * the provider reads it from. A target's model map renames the model where the API names it.
 */
function nativeRequest(
  ex: Exchange,
  native: NativeRoute,
  upstream: UpstreamTarget,
  adapter: ProviderAdapter,
  deps: RoutingDeps,
  model: string | null,
  apiKey: string | null,
  forwardedBody: () => Buffer | string | null,
): ProviderRequest {
  let path = ex.path;
  let body = forwardedBody();
  if (model !== null && model !== ex.model) {
    if (native.model !== null) path = path.replace(/\/models\/[^/:]+:/, `/models/${encodeURIComponent(model)}:`);
    else if (ex.json) body = JSON.stringify({ ...ex.json, model });
  }
  const headers = clientHeadersForProvider(ex);
  if (apiKey) headers[native.api.keyHeader] = apiKey;
  return {
    base: upstream.baseUrl ?? baseUrlOf(deps, upstream, adapter),
    method: ex.method,
    path: path + ex.query,
    headers,
    body,
  };
}

/** The call a bridged request makes: its chat completion, to the target's chat endpoint. */
function bridgedCall(call: ProviderCall, bridge: ChatBridge, ex: Exchange): ProviderCall {
  const chat = bridge.chatRequest(ex.json ?? {}, ex.endUser ?? undefined);
  const json = call.model === null ? chat : { ...chat, model: call.model };
  return {
    ...call,
    endpoint: 'chat.completions',
    path: '/chat/completions',
    query: '',
    json,
    rawBody: JSON.stringify(json),
  };
}

/** A chat answer (JSON, error or stream) written in the client's API by its bridge. */
async function bridgedAnswer(answer: UpstreamAnswer, bridge: ChatBridge, stream: boolean): Promise<UpstreamAnswer> {
  const contentType = String(answer.headers['content-type'] ?? '');
  const headers: Dispatcher.ResponseData['headers'] = {};
  const requestId = answer.headers['x-request-id'];
  if (typeof requestId === 'string') headers['x-request-id'] = requestId;
  const isStream = answer.statusCode < 400 && stream && contentType.includes('text/event-stream');
  if (!isStream) {
    const text = await answer.body.text();
    const json = parseJsonObject(text);
    if (!contentType.includes('application/json') || !json) {
      throw upstreamAnswerUntranslatable(answer.statusCode, contentType || 'a body without a content type');
    }
    const written =
      answer.statusCode >= 400
        ? bridge.error(answer.statusCode, errorMessageFrom(json) ?? `upstream answered ${answer.statusCode}`)
        : bridge.answer(json);
    headers['content-type'] = 'application/json';
    return { ...answer, headers, body: answerBody([JSON.stringify(written)]) };
  }
  headers['content-type'] = 'text/event-stream; charset=utf-8';
  headers['cache-control'] = 'no-cache';
  return { ...answer, headers, body: answerBody(rewritten(answer.body, bridge.stream())) };
}

function providerCall(
  deps: RoutingDeps,
  ex: Exchange,
  upstream: UpstreamTarget,
  adapter: ProviderAdapter,
  model: string | null,
  apiKey: string | null,
  forwardedBody: () => Buffer | string | null,
): ProviderCall {
  const json = ex.json ?? null;
  const mapped = json !== null && model !== ex.model;
  return {
    endpoint: ex.endpoint,
    method: ex.method,
    path: ex.path,
    query: ex.query,
    json: mapped ? { ...json, model } : json,
    rawBody: mapped ? JSON.stringify({ ...json, model }) : forwardedBody(),
    model,
    stream: ex.stream,
    headers: clientHeadersForProvider(ex),
    baseUrl: upstream.baseUrl ?? baseUrlOf(deps, upstream, adapter),
    apiKey,
    apiVersion: upstream.apiVersion,
    deployments: upstream.deployments,
    region: upstream.region,
    accessKeyId: upstream.accessKeyId,
    secretAccessKey:
      upstream.secretAccessKeyEncrypted === undefined ? undefined : deps.open(upstream.secretAccessKeyEncrypted),
  };
}

/** The client's headers that cross to any provider: no credentials of any kind. */
function clientHeadersForProvider(ex: Exchange): Record<string, string> {
  const { authorization: _bearer, ...headers } = upstreamHeaders(ex.headers, '');
  return headers;
}

/** A provider without a baseUrl: its own API, or the mock upstream, which speaks every provider's format. */
function baseUrlOf(deps: RoutingDeps, upstream: ProviderUpstream, adapter: ProviderAdapter): string {
  if (upstream.provider === 'openai') return deps.upstream;
  return deps.mockOrigin ?? adapter.defaultBaseUrl(upstream);
}

type Translate = NonNullable<ProviderAdapter['translate']>;

/** The provider's answer turned into OpenAI's: JSON answers and errors whole, streams piece by piece. */
async function translatedAnswer(
  response: Dispatcher.ResponseData,
  translate: Translate,
  call: ProviderCall,
  provider: ProviderName,
  model: string | null,
): Promise<UpstreamAnswer> {
  const headers: Dispatcher.ResponseData['headers'] = {};
  const requestId = response.headers[translate.requestIdHeader];
  if (typeof requestId === 'string') headers['x-request-id'] = requestId;
  const contentType = String(response.headers['content-type'] ?? '');
  const isStream = response.statusCode < 400 && call.stream && !contentType.includes('application/json');
  if (!isStream) {
    const text = await response.body.text();
    let json: Record<string, unknown>;
    if (response.statusCode >= 400) json = translate.error(response.statusCode, text);
    else {
      const parsed = parseJsonObject(text);
      json = parsed ? translate.answer(call, parsed) : translate.error(502, `unreadable answer from ${provider}`);
    }
    headers['content-type'] = 'application/json';
    return { statusCode: response.statusCode, headers, body: answerBody([JSON.stringify(json)]), provider, model };
  }
  headers['content-type'] = 'text/event-stream; charset=utf-8';
  headers['cache-control'] = 'no-cache';
  const body = answerBody(rewritten(response.body, translate.stream(call)));
  return { statusCode: response.statusCode, headers, body, provider, model };
}

/** A stream's chunks as a writer rewrites them (a provider's events as OpenAI's, or OpenAI's as a client API's). */
async function* rewritten(
  source: AsyncIterable<unknown>,
  writer: { push(chunk: Buffer): string; end(): string },
): AsyncGenerator<string> {
  for await (const chunk of source) {
    // Byte streams both: undici's answer bodies and answerBody's (not in object mode).
    const out = writer.push(chunk as Buffer);
    if (out !== '') yield out;
  }
  const rest = writer.end();
  if (rest !== '') yield rest;
}

/** A readable of translated text that also reads whole, as undici's answer bodies do. */
function answerBody(source: Iterable<string> | AsyncIterable<string>): UpstreamAnswer['body'] {
  const stream = Readable.from(source, { objectMode: false });
  return Object.assign(stream, {
    async text() {
      let text = '';
      for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
      return text;
    },
    async dump() {
      stream.destroy();
    },
  });
}
