// Pieces of OpenAI's chat format that every provider translation reads or writes: a
// message's text, a tool call's arguments, and the usage object.
import { array, isObject, type Json, text } from './json.js';

/** A message's content as text: the string, or its text parts joined by newlines. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  return array(content)
    .map((part) => (isObject(part) && part.type === 'text' ? text(part.text) : ''))
    .filter((t) => t !== '')
    .join('\n');
}

/** A tool call's `arguments` (a JSON string) as a value; `{}` when empty or not JSON. */
export function toolArguments(args: unknown): unknown {
  try {
    return JSON.parse(text(args) || '{}');
  } catch {
    return {};
  }
}

/** True when a chat request asks for the usage chunk at the end of its stream (`stream_options.include_usage`). */
export function asksForStreamUsage(json: Json | null): boolean {
  const options = json?.stream_options;
  return isObject(options) && options.include_usage === true;
}

export interface ChatUsageCounts {
  prompt: number;
  completion: number;
  /** Prompt tokens served from the provider's cache (a part of `prompt`). */
  cached: number;
  /** Reasoning tokens (a part of `completion`), when the provider reports them. */
  reasoning?: number;
  /** The provider's own total, when it reports one; else prompt + completion. */
  total?: number;
  /** Prompt tokens written to the provider's cache (a part of `prompt`), for providers that bill them. */
  cacheWrite?: number;
  /** Of the cache writes, those kept for an hour. */
  cacheWrite1h?: number;
  /** Server-side web searches the provider ran. */
  webSearches?: number;
  /** The service tier the provider says served the request. */
  serviceTier?: string;
}

/**
 * OpenAI's `usage` object. What OpenAI's has no field for — cache writes, web searches, the
 * service tier of a translated answer — is added in Anthropic's spelling, as LiteLLM writes
 * it (`cache_creation_input_tokens`, `cache_creation`, `server_tool_use`, `service_tier`), and
 * read back by the gateway's usage reader so the record keeps them.
 */
export function chatUsage(counts: ChatUsageCounts): Json {
  const { cacheWrite, cacheWrite1h, webSearches, serviceTier } = counts;
  return {
    prompt_tokens: counts.prompt,
    completion_tokens: counts.completion,
    total_tokens: counts.total || counts.prompt + counts.completion,
    prompt_tokens_details: { cached_tokens: counts.cached },
    ...(counts.reasoning === undefined ? {} : { completion_tokens_details: { reasoning_tokens: counts.reasoning } }),
    ...(cacheWrite === undefined ? {} : { cache_creation_input_tokens: cacheWrite }),
    ...(cacheWrite === undefined || cacheWrite1h === undefined
      ? {}
      : {
          cache_creation: {
            ephemeral_5m_input_tokens: Math.max(0, cacheWrite - cacheWrite1h),
            ephemeral_1h_input_tokens: cacheWrite1h,
          },
        }),
    ...(webSearches === undefined ? {} : { server_tool_use: { web_search_requests: webSearches } }),
    ...(serviceTier === undefined ? {} : { service_tier: serviceTier }),
  };
}
