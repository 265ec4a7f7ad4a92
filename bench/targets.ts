// What the benchmark sends: ~300-byte chat requests that vary (end user, model, prompt),
// the typical policy, and the targets (URL, headers, bodies) for each row.
import { randomBytes } from 'node:crypto';
import type { Target } from './load.js';
import type { Server } from './processes.js';

const BENCH_PROVIDER_KEY = `sk-bench-${randomBytes(8).toString('hex')}`;

/** The typical policy of issue 6: Enforce User IDs, limits, wordlists in audit mode. Logging stays on (the default). */
export const TYPICAL_POLICY = {
  enforceUserIds: true,
  maxTokens: 1024,
  maxPromptChars: 20_000,
  requestWordlists: { profanity: 'audit', dan: 'audit' },
  responseWordlists: { profanity: 'audit', dan: 'audit' },
};

/** The typical policy plus a per-user request limit and a connection budget, both too large to refuse the load. */
export const LIMITS_POLICY = {
  ...TYPICAL_POLICY,
  limits: [{ per: 'user', window: 'minute', requests: 1_000_000_000 }],
  budgets: [{ per: 'connection', window: 'total', usd: 1_000_000 }],
};

/** The redacting stream's policy: the typical one with profanity redacted from answers instead of audited. */
export const REDACT_POLICY = {
  ...TYPICAL_POLICY,
  responseWordlists: { profanity: 'redact', dan: 'audit' },
};

/** About 300 bytes, with what the typical policy needs (a user, max_tokens) so it passes. */
export const CHAT_REQUEST = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a concise assistant for an operations team.' },
    {
      role: 'user',
      content: 'Summarise in two short sentences why a gateway on the hot path of every API call has to stay lean.',
    },
  ],
  max_tokens: 256,
  temperature: 0.2,
  user: 'bench-user-0042',
};

export const STREAM_CHUNKS = 50;

/** Priced models the mock answers for; their prices are looked up per model, so more than one. */
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'gpt-4.1-nano', 'o4-mini', 'gpt-4.1', 'gpt-3.5-turbo'];
const USERS = 997;
const SUBJECTS = [
  'a gateway',
  'a cache',
  'a proxy',
  'a load balancer',
  'a message queue',
  'a database driver',
  'an API client',
  'a rate limiter',
  'a log shipper',
  'a service mesh',
  'a CDN edge',
];
const CLAIMS = [
  'stay lean',
  'fail loudly',
  'keep its memory flat',
  'stay out of the way',
  'be boring',
  'answer fast',
  'never lose a record',
  'tell the truth about costs',
  'be damn simple to run',
];
/** Bodies per cycle: users, models and prompts have coprime counts, so combinations keep changing. */
const BODIES = 4096;

/**
 * The chat requests the load cycles through: end users, models and prompts drawn from sets large enough that
 * the gateway's key, price and policy caches see realistic traffic (one prompt in nine has a profane word).
 */
export function chatBodies(extra: Record<string, unknown> = {}): string[] {
  return Array.from({ length: BODIES }, (_, i) => {
    const prompt = `Summarise in two short sentences why ${SUBJECTS[i % SUBJECTS.length]} on the hot path of every API call has to ${CLAIMS[i % CLAIMS.length]}.`;
    return JSON.stringify({
      ...CHAT_REQUEST,
      model: MODELS[i % MODELS.length],
      messages: [CHAT_REQUEST.messages[0], { role: 'user', content: prompt }],
      user: `bench-user-${String(i % USERS).padStart(4, '0')}`,
      ...extra,
    });
  });
}

export function targets(
  mock: Server,
  bare: Server,
  gateway: Server,
  keys: { noPolicy: string; typical: string | null; redact?: string | null },
  floor: Server = bare,
): Record<'direct' | 'bare' | 'floor' | 'noPolicy' | 'bareStream' | 'gatewayStream', Target> & {
  typical: Target | null;
  /** The typical policy redacting profanity from the streamed answers. */
  redactStream: Target | null;
  /** The limits policy on a gateway: its key there. */
  limitsOn(server: Server, key: string): Target;
} {
  const bodies = chatBodies();
  const streamBodies = chatBodies({ stream: true });
  const headers = (key?: string): Record<string, string> => ({
    'content-type': 'application/json',
    // A provider key made at run time: the mock takes any.
    authorization: `Bearer ${BENCH_PROVIDER_KEY}`,
    ...(key ? { 'x-usagepanda-api-key': key } : {}),
  });
  const at = (server: Server) => `${server.origin}/v1/chat/completions`;
  const json = (server: Server, key?: string): Target => ({
    url: at(server),
    headers: headers(key),
    body: bodies[0] as string,
    bodies,
  });
  const stream = (server: Server, key?: string): Target => ({
    url: at(server),
    headers: { ...headers(key), 'x-mock-chunks': String(STREAM_CHUNKS) },
    body: streamBodies[0] as string,
    bodies: streamBodies,
  });
  return {
    direct: json(mock),
    bare: json(bare),
    floor: json(floor),
    noPolicy: json(gateway, keys.noPolicy),
    typical: keys.typical ? json(gateway, keys.typical) : null,
    limitsOn: (server, key) => json(server, key),
    bareStream: stream(bare),
    gatewayStream: stream(gateway, keys.typical ?? keys.noPolicy),
    redactStream: keys.redact ? stream(gateway, keys.redact) : null,
  };
}
