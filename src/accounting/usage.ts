// Reads token usage from upstream answers: the `usage` object of JSON answers and of the
// final stream chunk, in the Chat/Completions, Responses and audio spellings — including
// cached input tokens, reasoning tokens, audio durations and the service tier where upstream
// reports them, and the cache writes and web searches that the gateway's own translations
// from Anthropic and Bedrock (and LiteLLM-style servers) add in Anthropic's spelling.
import type { Exchange } from '../exchange.js';
import { anthropicUsage } from '../providers/anthropic/usage.js';
import { geminiUsage } from '../providers/gemini/usage.js';
import type { Usage } from '../wire/usage.js';
import { answerText, estimateUsage } from './tokenizer.js';

const count = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

const objectOf = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/** Usage from an answer object (or a Responses stream event carrying `response.usage`). */
export function usageFrom(answer: unknown): Usage | null {
  const record = objectOf(answer);
  if (!record) return null;
  const u = objectOf(record.usage) ?? objectOf(objectOf(record.response)?.usage);
  // Transcriptions in verbose_json report only the audio's duration, at the top level.
  const topDuration = count(record.duration);
  if (!u) return topDuration === null ? null : { ...EMPTY, audioSeconds: topDuration };
  // `{ type: "duration", seconds }` is how whisper-1 reports usage in newer answers.
  const audioSeconds = u.type === 'duration' ? count(u.seconds) : topDuration;
  const prompt = count(u.prompt_tokens) ?? count(u.input_tokens);
  const completion = count(u.completion_tokens) ?? count(u.output_tokens);
  const total =
    count(u.total_tokens) ?? (prompt !== null || completion !== null ? (prompt ?? 0) + (completion ?? 0) : null);
  const inputDetails = objectOf(u.prompt_tokens_details) ?? objectOf(u.input_tokens_details);
  const outputDetails = objectOf(u.completion_tokens_details) ?? objectOf(u.output_tokens_details);
  const usage: Usage = {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: total,
    cachedTokens: count(inputDetails?.cached_tokens),
    reasoningTokens: count(outputDetails?.reasoning_tokens),
    audioSeconds,
    ...cacheWritesAndSearches(u),
    serviceTier:
      tierOf(record.service_tier) ?? tierOf(objectOf(record.response)?.service_tier) ?? tierOf(u.service_tier),
  };
  if (prompt === null && completion === null && total === null && audioSeconds === null) return null;
  return usage;
}

/** The usage an answer reports, in its API's own words. */
function reportedUsage(ex: Exchange, answer: Record<string, unknown>): Usage | null {
  switch (ex.endpoint) {
    case 'anthropic.messages':
      return anthropicUsage(answer.usage);
    case 'gemini.generate':
    case 'gemini.embed':
      return geminiUsage(answer.usageMetadata);
    case 'anthropic.count_tokens':
    case 'gemini.count_tokens':
      // A count of the prompt, not a use of the model.
      return null;
    default:
      return usageFrom(answer);
  }
}

/**
 * Cache writes and web searches in OpenAI-shaped usage, as Anthropic spells them (and LiteLLM
 * writes them): `cache_creation_input_tokens`, `cache_creation.ephemeral_1h_input_tokens`,
 * `server_tool_use.web_search_requests`. Absent fields stay absent: OpenAI's usage has none.
 */
function cacheWritesAndSearches(u: Record<string, unknown>): Partial<Usage> {
  const parts: Partial<Usage> = {};
  const writes = count(u.cache_creation_input_tokens);
  if (writes !== null) parts.cacheWriteTokens = writes;
  const hour = count(objectOf(u.cache_creation)?.ephemeral_1h_input_tokens);
  if (hour !== null) parts.cacheWrite1hTokens = hour;
  const searches = count(objectOf(u.server_tool_use)?.web_search_requests);
  if (searches !== null) parts.webSearchRequests = searches;
  return parts;
}

const tierOf = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** Usage of a successful JSON answer: as reported, else counted by the tokenizer and marked estimated. */
export async function usageOfAnswer(
  ex: Exchange,
  answer: Record<string, unknown>,
  status: number,
): Promise<Usage | null> {
  const reported = reportedUsage(ex, answer);
  if (reported || status >= 400) return reported;
  return estimateUsage(ex.endpoint, ex.json, answerText(answer));
}

const EMPTY: Usage = {
  promptTokens: null,
  completionTokens: null,
  totalTokens: null,
  cachedTokens: null,
  reasoningTokens: null,
  audioSeconds: null,
};

/** The `error.message` of an OpenAI-shaped error answer, if it is one. */
export function errorMessageFrom(answer: unknown): string | null {
  if (typeof answer !== 'object' || answer === null) return null;
  const error = (answer as { error?: unknown }).error;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  }
  return null;
}
