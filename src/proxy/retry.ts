// Calls upstream again after a network error, 408, 409, 429 or 5xx, as often as the
// retry count allows, with exponential backoff and jitter, honouring Retry-After. Only
// ever before anything of an answer was sent to the client: the caller relays the answer.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, Dispatcher } from 'undici';
import { GatewayError } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { ClientAbort } from './client-abort.js';
import { sendUpstream, type UpstreamCall } from './forward.js';

const BASE_DELAY_MS = 250;
/** A Retry-After longer than this is not waited for: the answer goes to the client as it is. */
const MAX_DELAY_MS = 30_000;

export const isRetryableStatus = (status: number) =>
  status === 408 || status === 409 || status === 429 || status >= 500;

/** Exponential backoff with jitter: between half and all of 250 ms × 2^attempt. */
export function backoffMs(attempt: number): number {
  const ceiling = BASE_DELAY_MS * 2 ** attempt;
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** `Retry-After` in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text.trim())) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export async function sendWithRetries(
  agent: Agent,
  call: UpstreamCall,
  retries: number,
  ex: Exchange,
  abort: ClientAbort,
): Promise<Dispatcher.ResponseData> {
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
    let answer: Dispatcher.ResponseData;
    try {
      answer = await sendUpstream(agent, call);
    } catch (err) {
      // Only network failures (mapped to 502/504) are retried; a client that left is not.
      const retryable = err instanceof GatewayError && attempt < retries;
      if (err instanceof GatewayError) ex.attempts.push({ status: null, error: err.message, latencyMs: elapsed() });
      if (!retryable) throw err;
      await sleep(backoffMs(attempt), undefined, { signal: abort.signal });
      continue;
    }
    ex.attempts.push({ status: answer.statusCode, error: null, latencyMs: elapsed() });
    if (attempt >= retries || !isRetryableStatus(answer.statusCode)) return answer;
    const wait = retryAfterMs(answer.headers['retry-after']) ?? backoffMs(attempt);
    if (wait > MAX_DELAY_MS) return answer;
    await answer.body.dump();
    await sleep(wait, undefined, { signal: abort.signal });
  }
}
