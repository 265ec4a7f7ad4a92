// Which OpenAI endpoint a /v1 path is, and which operation it records as.
import type { Operation } from '../../domain.js';

export const ENDPOINTS = {
  'chat.completions': { path: '/chat/completions', operation: 'chat' },
  completions: { path: '/completions', operation: 'completion' },
  embeddings: { path: '/embeddings', operation: 'embedding' },
  edits: { path: '/edits', operation: 'edit' },
  'images.generations': { path: '/images/generations', operation: 'image' },
  'images.edits': { path: '/images/edits', operation: 'image' },
  'images.variations': { path: '/images/variations', operation: 'image' },
  'audio.transcriptions': { path: '/audio/transcriptions', operation: 'audio' },
  'audio.translations': { path: '/audio/translations', operation: 'audio' },
  'audio.speech': { path: '/audio/speech', operation: 'audio' },
  moderations: { path: '/moderations', operation: 'moderation' },
  responses: { path: '/responses', operation: 'response' },
} as const satisfies Record<string, { path: string; operation: Operation }>;

export type Endpoint = keyof typeof ENDPOINTS | 'other';

const BY_PATH = new Map<string, Endpoint>(
  Object.entries(ENDPOINTS).map(([endpoint, { path }]) => [path, endpoint as Endpoint]),
);

/** Classifies a path relative to the version prefix (`/chat/completions`), for POSTs. */
export function classifyEndpoint(method: string, path: string): Endpoint {
  if (method !== 'POST') return 'other';
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return BY_PATH.get(trimmed) ?? 'other';
}

export function operationOf(endpoint: Endpoint): Operation {
  return endpoint === 'other' ? 'other' : ENDPOINTS[endpoint].operation;
}
