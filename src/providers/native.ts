// The native routes: clients that speak a provider's own API point its SDK at the gateway
// under `/anthropic` or `/gemini`. Each is read as OpenAI's chat completions (see NativeApi).
import { badRequest, GatewayError } from '../errors.js';
import { anthropicMessages } from './anthropic/native.js';
import { generateContent } from './gemini/native.js';
import type { NativeApi } from './provider.js';

export interface NativeRoute {
  api: NativeApi;
  /** The path the client called, without its query: the record's endpoint. */
  path: string;
  /** The key the client sent the way its provider's SDK sends it (header, or Gemini's `?key=`). */
  key?: string;
  /** That key when it is not a Usage Panda key: the provider's, used for targets of that provider. */
  providerKey?: string;
}

/** What a request under a native prefix is: its route, and why it cannot be served, if it cannot. */
export interface NativeTarget {
  route: NativeRoute;
  error: GatewayError | null;
  /** The Gemini API also takes its key as `?key=`. */
  queryKey: string | undefined;
}

const GEMINI_PATH = /^\/gemini\/(v1beta|v1|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The native route of a request URL, or null when the URL is under neither native prefix. */
export function readNativeTarget(method: string, url: string): NativeTarget | null {
  // Nearly every request is under /v1: it is told apart by its first bytes, nothing parsed.
  if (!url.startsWith('/anthropic') && !url.startsWith('/gemini')) return null;
  // A browser's CORS preflight asks before the POST: answered like the POST's own path.
  const post = method === 'POST' || method === 'OPTIONS';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const queryKey = query.get('key') ?? undefined;
  if (path === '/anthropic' || path.startsWith('/anthropic/')) {
    const route = { api: anthropicMessages, path };
    const served = post && path === '/anthropic/v1/messages';
    return { route, error: served ? null : notServed(method, path, 'POST /anthropic/v1/messages'), queryKey };
  }
  if (path !== '/gemini' && !path.startsWith('/gemini/')) return null;
  const match = GEMINI_PATH.exec(path);
  const model = match ? safeDecode(match[2] ?? '') : '';
  const stream = match?.[3] === 'streamGenerateContent';
  const route: NativeRoute = { api: generateContent({ model, stream }), path };
  const refuse = (error: GatewayError) => ({ route, error, queryKey });
  if (!match || !post) {
    return refuse(notServed(method, path, 'POST /gemini/v1beta/models/{model}:generateContent|streamGenerateContent'));
  }
  if (!MODEL_NAME.test(model)) {
    return refuse(badRequest(`invalid model name in the path: ${JSON.stringify(model.slice(0, 200))}`));
  }
  if (stream && query.get('alt') !== 'sse') {
    return refuse(badRequest('streamGenerateContent is served as server-sent events: add ?alt=sse'));
  }
  return { route, error: null, queryKey };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const notServed = (method: string, path: string, served: string) =>
  new GatewayError(
    'UP_ERR_NOT_FOUND',
    404,
    'not_found',
    `Usage Panda: ${method} ${path.slice(0, 200)} is not served; the native route here is ${served}`,
  );
