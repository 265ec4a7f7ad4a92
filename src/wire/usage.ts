// The token usage an answer reports (or the gateway counts), in the gateway's words.

export interface Usage {
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  /** Input tokens served from the provider's prompt cache (a part of promptTokens). */
  cachedTokens?: number | null;
  /** Reasoning tokens (a part of completionTokens). */
  reasoningTokens?: number | null;
  /** Seconds of audio, for transcriptions and translations that report it. */
  audioSeconds?: number | null;
  /** True when counted by the gateway's tokenizer because upstream reported no usage. */
  estimated?: boolean;
}
