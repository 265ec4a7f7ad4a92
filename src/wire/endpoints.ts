// Which OpenAI endpoint a /v1 request is, which operation it records as, and what body it
// takes. The endpoints listed are those whose text the gateway reads; every other request
// is `other` (see docs/endpoints.md for the whole OpenAI API surface and how each part is
// treated).
import type { Operation } from '../domain.js';

/** The body an endpoint takes: JSON, multipart/form-data, or either. */
export type BodyFormat = 'json' | 'multipart' | 'either';

interface EndpointInfo {
  /** Below the version prefix; `{id}` stands for one path segment. */
  path: string;
  operation: Operation;
  body: BodyFormat;
  /** False when upstream bills nothing for the call itself (storing items, counting tokens, uploads). */
  billed: boolean;
}

export const ENDPOINTS = {
  'chat.completions': { path: '/chat/completions', operation: 'chat', body: 'json', billed: true },
  completions: { path: '/completions', operation: 'completion', body: 'json', billed: true },
  embeddings: { path: '/embeddings', operation: 'embedding', body: 'json', billed: true },
  edits: { path: '/edits', operation: 'edit', body: 'json', billed: true },
  'images.generations': { path: '/images/generations', operation: 'image', body: 'json', billed: true },
  'images.edits': { path: '/images/edits', operation: 'image', body: 'either', billed: true },
  'images.variations': { path: '/images/variations', operation: 'image', body: 'multipart', billed: true },
  'audio.transcriptions': { path: '/audio/transcriptions', operation: 'audio', body: 'multipart', billed: true },
  'audio.translations': { path: '/audio/translations', operation: 'audio', body: 'multipart', billed: true },
  'audio.speech': { path: '/audio/speech', operation: 'audio', body: 'json', billed: true },
  moderations: { path: '/moderations', operation: 'moderation', body: 'json', billed: false },
  responses: { path: '/responses', operation: 'response', body: 'json', billed: true },
  'responses.compact': { path: '/responses/compact', operation: 'response', body: 'json', billed: true },
  'responses.input_tokens': { path: '/responses/input_tokens', operation: 'response', body: 'json', billed: false },
  conversations: { path: '/conversations', operation: 'response', body: 'json', billed: false },
  'conversations.items': { path: '/conversations/{id}/items', operation: 'response', body: 'json', billed: false },
  /** File uploads; the gateway reads those with `purpose=batch` (JSONL of requests). */
  files: { path: '/files', operation: 'other', body: 'multipart', billed: false },
  /** Batches: the gateway reads back the stored input file a batch is created from. */
  batches: { path: '/batches', operation: 'other', body: 'json', billed: false },
} as const satisfies Record<string, EndpointInfo>;

/**
 * The endpoints of the providers' own APIs that the gateway reads, at the native routes
 * (`/anthropic/…`, `/gemini/…`; src/providers/native.ts tells them apart by path). Every
 * other path under a native route is `other`: forwarded, or refused under a content policy.
 */
export const NATIVE_ENDPOINTS = {
  /** Anthropic `POST /v1/messages`. */
  'anthropic.messages': { path: '/v1/messages', operation: 'chat', body: 'json', billed: true },
  /** Anthropic `POST /v1/messages/count_tokens`: the same body, counted, not answered. */
  'anthropic.count_tokens': { path: '/v1/messages/count_tokens', operation: 'chat', body: 'json', billed: false },
  /** Anthropic `POST /v1/messages/batches`: Messages requests a model reads later. */
  'anthropic.batches': { path: '/v1/messages/batches', operation: 'other', body: 'json', billed: false },
  /** Gemini `models/{model}:generateContent` and `:streamGenerateContent`. */
  'gemini.generate': {
    path: '/{version}/models/{model}:generateContent',
    operation: 'chat',
    body: 'json',
    billed: true,
  },
  /** Gemini `models/{model}:countTokens`. */
  'gemini.count_tokens': {
    path: '/{version}/models/{model}:countTokens',
    operation: 'chat',
    body: 'json',
    billed: false,
  },
  /** Gemini `models/{model}:embedContent` and `:batchEmbedContents`. */
  'gemini.embed': {
    path: '/{version}/models/{model}:embedContent',
    operation: 'embedding',
    body: 'json',
    billed: true,
  },
  /** Gemini `cachedContents`: contents a model reads with every request that names the cache. */
  'gemini.cached_contents': { path: '/{version}/cachedContents', operation: 'other', body: 'json', billed: false },
} as const satisfies Record<string, EndpointInfo>;

export type NativeEndpoint = keyof typeof NATIVE_ENDPOINTS;
export type Endpoint = keyof typeof ENDPOINTS | NativeEndpoint | 'other';

function infoOf(endpoint: Exclude<Endpoint, 'other'>): EndpointInfo {
  return endpoint in ENDPOINTS
    ? ENDPOINTS[endpoint as keyof typeof ENDPOINTS]
    : NATIVE_ENDPOINTS[endpoint as NativeEndpoint];
}

const EXACT = new Map<string, Endpoint>();
const PATTERNS: { segments: string[]; endpoint: Endpoint }[] = [];
for (const [endpoint, { path }] of Object.entries(ENDPOINTS)) {
  if (path.includes('{id}')) PATTERNS.push({ segments: path.split('/'), endpoint: endpoint as Endpoint });
  else EXACT.set(path, endpoint as Endpoint);
}

function matches(pattern: readonly string[], segments: readonly string[]): boolean {
  if (pattern.length !== segments.length) return false;
  return pattern.every((part, i) => (part === '{id}' ? segments[i] !== '' : part === segments[i]));
}

/** Classifies a normalized path below the version prefix (`/chat/completions`), for POSTs. */
export function classifyEndpoint(method: string, path: string): Endpoint {
  if (method !== 'POST') return 'other';
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const exact = EXACT.get(trimmed);
  if (exact) return exact;
  const segments = trimmed.split('/');
  return PATTERNS.find((pattern) => matches(pattern.segments, segments))?.endpoint ?? 'other';
}

/** The operation of each API family, for the requests that are not a classified endpoint (reads, deletes). */
const FAMILIES: Readonly<Record<string, Operation>> = {
  chat: 'chat',
  completions: 'completion',
  embeddings: 'embedding',
  edits: 'edit',
  images: 'image',
  audio: 'audio',
  moderations: 'moderation',
  responses: 'response',
  conversations: 'response',
};

/** The operation a request records as: its endpoint's, else its API family's (`GET /responses/{id}` is a response). */
export function operationOf(endpoint: Endpoint, path = ''): Operation {
  if (endpoint !== 'other') return infoOf(endpoint).operation;
  const family = path.split('/')[1] ?? '';
  return Object.hasOwn(FAMILIES, family) ? (FAMILIES[family] as Operation) : 'other';
}

/** The body the endpoint takes; null for `other`, which takes whatever upstream does. */
export function bodyFormatOf(endpoint: Endpoint): BodyFormat | null {
  return endpoint === 'other' ? null : infoOf(endpoint).body;
}

/** Whether upstream bills the call itself; reads, deletes and unknown paths cost nothing. */
export function isBilled(endpoint: Endpoint): boolean {
  return endpoint !== 'other' && infoOf(endpoint).billed;
}
