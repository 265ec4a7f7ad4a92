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
}

/** OpenAI's `usage` object. */
export function chatUsage(counts: ChatUsageCounts): Json {
  return {
    prompt_tokens: counts.prompt,
    completion_tokens: counts.completion,
    total_tokens: counts.total || counts.prompt + counts.completion,
    prompt_tokens_details: { cached_tokens: counts.cached },
    ...(counts.reasoning === undefined ? {} : { completion_tokens_details: { reasoning_tokens: counts.reasoning } }),
  };
}
