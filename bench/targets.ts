// What the benchmark sends: the ~300-byte chat request, the typical policy, and the
// targets (URL, headers, body) for each row.
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

export function targets(
  mock: Server,
  bare: Server,
  gateway: Server,
  keys: { noPolicy: string; typical: string | null },
  floor: Server = bare,
): Record<'direct' | 'bare' | 'floor' | 'noPolicy' | 'bareStream' | 'gatewayStream', Target> & {
  typical: Target | null;
  /** The limits policy on a gateway: its key there. */
  limitsOn(server: Server, key: string): Target;
} {
  const body = JSON.stringify(CHAT_REQUEST);
  const streamBody = JSON.stringify({ ...CHAT_REQUEST, stream: true });
  const headers = (key?: string): Record<string, string> => ({
    'content-type': 'application/json',
    // A provider key made at run time: the mock takes any.
    authorization: `Bearer ${BENCH_PROVIDER_KEY}`,
    ...(key ? { 'x-usagepanda-api-key': key } : {}),
  });
  const at = (server: Server) => `${server.origin}/v1/chat/completions`;
  const streamHeaders = (key?: string) => ({ ...headers(key), 'x-mock-chunks': String(STREAM_CHUNKS) });
  return {
    direct: { url: at(mock), headers: headers(), body },
    bare: { url: at(bare), headers: headers(), body },
    floor: { url: at(floor), headers: headers(), body },
    noPolicy: { url: at(gateway), headers: headers(keys.noPolicy), body },
    typical: keys.typical ? { url: at(gateway), headers: headers(keys.typical), body } : null,
    limitsOn: (server, key) => ({ url: at(server), headers: headers(key), body }),
    bareStream: { url: at(bare), headers: streamHeaders(), body: streamBody },
    gatewayStream: { url: at(gateway), headers: streamHeaders(keys.typical ?? keys.noPolicy), body: streamBody },
  };
}
