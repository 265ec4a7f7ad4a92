// Anthropic's `usage` object (Messages answers, `message_start` and `message_delta` events)
// in the gateway's words: input counts every token the model read, cache reads and writes
// included, and the writes are kept apart because Anthropic bills them above plain input (the
// 1-hour ones above the 5-minute ones); web searches and the service tier change the bill too.
import { count, isObject } from '../../wire/json.js';
import type { Usage } from '../../wire/usage.js';

export function anthropicUsage(usage: unknown): Usage | null {
  if (!isObject(usage)) return null;
  const input = count(usage.input_tokens);
  const read = count(usage.cache_read_input_tokens);
  const write = count(usage.cache_creation_input_tokens);
  const output = count(usage.output_tokens);
  const creation = isObject(usage.cache_creation) ? usage.cache_creation : {};
  const tools = isObject(usage.server_tool_use) ? usage.server_tool_use : {};
  const prompt = input + read + write;
  return {
    promptTokens: prompt,
    completionTokens: output,
    totalTokens: prompt + output,
    cachedTokens: read,
    cacheWriteTokens: write,
    cacheWrite1hTokens: count(creation.ephemeral_1h_input_tokens),
    webSearchRequests: count(tools.web_search_requests),
    serviceTier: typeof usage.service_tier === 'string' && usage.service_tier !== '' ? usage.service_tier : null,
  };
}
