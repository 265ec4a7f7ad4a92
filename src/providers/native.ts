// The native routes: clients that speak a provider's own API point its SDK at the gateway
// under `/anthropic` or `/gemini`. Every path below a prefix is the provider's path: the
// endpoints the gateway reads are told apart here (src/wire/endpoints.ts NATIVE_ENDPOINTS),
// the rest is `other` and forwarded as it is to a target of that provider.
import { badRequest, type GatewayError } from '../errors.js';
import type { Endpoint, NativeEndpoint } from '../wire/endpoints.js';
import { anthropicMessages } from './anthropic/native.js';
import { generateContent } from './gemini/native.js';
import type { NativeApi } from './provider.js';

export interface NativeRoute {
  api: NativeApi;
  /** The path the client called, without its query: the record's endpoint. */
  path: string;
  endpoint: Endpoint;
  /** The model, when the API names it in the path (Gemini). */
  model: string | null;
  /** True when the path asks for a stream (Gemini's `streamGenerateContent`). */
  stream: boolean;
  /** The key the client sent the way its provider's SDK sends it (header, or Gemini's `?key=`). */
  key?: string;
  /** That key when it is not a Usage Panda key: the provider's, used for targets of that provider. */
  providerKey?: string;
}

/** What a request under a native prefix is: its route, and why it cannot be served, if it cannot. */
export interface NativeTarget {
  route: NativeRoute;
  /** The provider's path below the prefix, e.g. `/v1/messages`. */
  upstreamPath: string;
  /** The query to forward, with its `?` (Gemini's `key` taken out: a key never crosses in the URL). */
  upstreamQuery: string;
  error: GatewayError | null;
  /** The Gemini API also takes its key as `?key=`. */
  queryKey: string | undefined;
}

const ANTHROPIC_ENDPOINTS: Readonly<Record<string, NativeEndpoint>> = {
  '/v1/messages': 'anthropic.messages',
  '/v1/messages/count_tokens': 'anthropic.count_tokens',
  '/v1/messages/batches': 'anthropic.batches',
};

const GEMINI_METHODS: Readonly<Record<string, NativeEndpoint>> = {
  generateContent: 'gemini.generate',
  streamGenerateContent: 'gemini.generate',
  countTokens: 'gemini.count_tokens',
  embedContent: 'gemini.embed',
  batchEmbedContents: 'gemini.embed',
};

const GEMINI_MODEL_PATH = /^\/(v1beta|v1|v1alpha)\/models\/([^/:]+):([A-Za-z]+)$/;
const GEMINI_CACHES_PATH = /^\/(v1beta|v1|v1alpha)\/cachedContents$/;
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The native route of a request URL, or null when the URL is under neither native prefix. */
export function readNativeTarget(method: string, url: string): NativeTarget | null {
  // Nearly every request is under /v1: it is told apart by its first bytes, nothing parsed.
  if (!url.startsWith('/anthropic') && !url.startsWith('/gemini')) return null;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  // A browser's CORS preflight asks before the POST: read like the POST's own path.
  const post = method === 'POST' || method === 'OPTIONS';
  if (path === '/anthropic' || path.startsWith('/anthropic/')) {
    const upstreamPath = path.slice('/anthropic'.length) || '/';
    const endpoint = (post && ANTHROPIC_ENDPOINTS[upstreamPath]) || 'other';
    const route: NativeRoute = { api: anthropicMessages, path, endpoint, model: null, stream: false };
    return { route, upstreamPath, upstreamQuery: query, error: null, queryKey: undefined };
  }
  if (path !== '/gemini' && !path.startsWith('/gemini/')) return null;
  const upstreamPath = path.slice('/gemini'.length) || '/';
  const params = new URLSearchParams(query.slice(1));
  const queryKey = params.get('key') ?? undefined;
  params.delete('key');
  const rest = params.toString();
  const upstreamQuery = rest === '' ? '' : `?${rest}`;
  const match = GEMINI_MODEL_PATH.exec(upstreamPath);
  const model = match ? safeDecode(match[2] ?? '') : null;
  const stream = match?.[3] === 'streamGenerateContent';
  const endpoint: Endpoint = !post
    ? 'other'
    : match
      ? (GEMINI_METHODS[match[3] ?? ''] ?? 'other')
      : GEMINI_CACHES_PATH.test(upstreamPath)
        ? 'gemini.cached_contents'
        : 'other';
  const route: NativeRoute = { api: generateContent({ model: model ?? '', stream }), path, endpoint, model, stream };
  const target = { route, upstreamPath, upstreamQuery, queryKey };
  if (model !== null && !MODEL_NAME.test(model)) {
    return { ...target, error: badRequest(`invalid model name in the path: ${JSON.stringify(model.slice(0, 200))}`) };
  }
  if (stream && params.get('alt') !== 'sse') {
    return { ...target, error: badRequest('streamGenerateContent is served as server-sent events: add ?alt=sse') };
  }
  return { ...target, error: null };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
