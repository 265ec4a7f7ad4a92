// The token usage an answer reports (or the gateway counts), in the gateway's words.

export interface Usage {
  /** Every input token, those read from and written to the provider's cache included. */
  promptTokens: number | null;
  completionTokens: number | null;
  totalTokens: number | null;
  /** Input tokens served from the provider's prompt cache (a part of promptTokens). */
  cachedTokens?: number | null;
  /** Input tokens written to the provider's prompt cache (a part of promptTokens; Anthropic bills them above input). */
  cacheWriteTokens?: number | null;
  /** Of the cache writes, those kept for an hour (Anthropic's `ephemeral_1h`, billed at a higher rate than 5-minute ones). */
  cacheWrite1hTokens?: number | null;
  /** Reasoning tokens (a part of completionTokens). */
  reasoningTokens?: number | null;
  /** Server-side web searches the provider ran and bills per request. */
  webSearchRequests?: number | null;
  /**
   * The service tier the provider says served the request (OpenAI's `service_tier`: `default`,
   * `flex`, `priority`; Anthropic's `usage.service_tier`: `standard`, `priority`, `batch`): it changes the price.
   */
  serviceTier?: string | null;
  /** Seconds of audio, for transcriptions and translations that report it. */
  audioSeconds?: number | null;
  /** True when counted by the gateway's tokenizer because upstream reported no usage. */
  estimated?: boolean;
}
