// Reads token usage from upstream answers: the `usage` object of JSON answers and of the
// final stream chunk, in the Chat/Completions and the Responses API spellings.
import type { Usage } from '../proxy/exchange.js';

const count = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** Usage from an answer object (or a Responses stream event carrying `response.usage`). */
export function usageFrom(answer: unknown): Usage | null {
  if (typeof answer !== 'object' || answer === null) return null;
  const record = answer as { usage?: unknown; response?: { usage?: unknown } };
  const usage = record.usage ?? record.response?.usage;
  if (typeof usage !== 'object' || usage === null) return null;
  const u = usage as Record<string, unknown>;
  const prompt = count(u.prompt_tokens) ?? count(u.input_tokens);
  const completion = count(u.completion_tokens) ?? count(u.output_tokens);
  const total =
    count(u.total_tokens) ?? (prompt !== null || completion !== null ? (prompt ?? 0) + (completion ?? 0) : null);
  if (prompt === null && completion === null && total === null) return null;
  return { promptTokens: prompt, completionTokens: completion, totalTokens: total };
}

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
