// Gemini's `usageMetadata` in the gateway's words: thinking tokens are billed as output, so
// they count as completion (reasoning) tokens; context-cache reads are a part of the prompt.
import { count, isObject } from '../../wire/json.js';
import type { Usage } from '../../wire/usage.js';

export function geminiUsage(metadata: unknown): Usage | null {
  if (!isObject(metadata)) return null;
  const prompt = count(metadata.promptTokenCount) + count(metadata.toolUsePromptTokenCount);
  const thoughts = count(metadata.thoughtsTokenCount);
  const completion = count(metadata.candidatesTokenCount) + thoughts;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: count(metadata.totalTokenCount) || prompt + completion,
    cachedTokens: count(metadata.cachedContentTokenCount),
    reasoningTokens: thoughts,
  };
}
